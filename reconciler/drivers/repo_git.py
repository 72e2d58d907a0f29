"""The git calls of `orch repos` and `orch run`: status, last commit, branch, fetch, fast-forward.

Plain ``subprocess`` with ``git -C <dir>`` and argv lists, not GitPython:
`orch repos` runs a handful of calls per repo, many repos at once, and
importing GitPython alone costs about as much as twenty ``git status`` calls.
Output is returned raw (parsed by :mod:`reconciler.core.git_status`); a
failure is a :class:`~reconciler.core.errors.DriverError` naming the
subcommand and git's first line of complaint.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from reconciler.core.errors import DriverError

DEFAULT_TIMEOUT = 60.0
# Never prompt for a password: a pull of twenty repos must not stop on one. C messages:
# the "fatal:" line picked out below is the same whatever the user's language.
_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def git_output(path: Path, args: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> str:
    """``git -C path args...``; its stdout (decoded, bad bytes replaced).

    Raises
    ------
    DriverError
        ``"git <subcommand>: <stderr>"`` on a non-zero exit, a timeout, or no git.
    """
    cmd = "git " + next((a for a in args if not a.startswith("-")), "")
    env = {**os.environ, **_ENV}
    try:
        done = subprocess.run(
            ["git", "-C", str(path), *args],
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise DriverError(cmd, f"timed out after {timeout:g}s") from err
    except OSError as err:
        raise DriverError(cmd, str(err)) from err
    if done.returncode != 0:
        text = done.stderr.decode(errors="replace").strip()
        raise DriverError(cmd, _first_complaint(text) or f"exit code {done.returncode}")
    return done.stdout.decode(errors="replace")


def _first_complaint(text: str) -> str:
    """git's ``fatal:``/``error:`` line when there is one, else its first line.

    Examples
    --------
    >>> _first_complaint("hint: x\\nfatal: not a git repository")
    'fatal: not a git repository'
    """
    lines = [line for line in text.splitlines() if line.strip()]
    found = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (found or lines or [""])[0]


def current_branch(path: Path, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The branch checked out at ``path``, or None when HEAD is detached."""
    try:
        return git_output(path, ["symbolic-ref", "-q", "--short", "HEAD"], timeout).strip()
    except DriverError as err:
        if err.stderr.startswith("exit code 1"):  # -q: detached, says nothing, exits 1
            return None
        raise


def fetch(path: Path, timeout: float) -> None:
    """``git fetch`` of the current branch's remote (remote-tracking refs only)."""
    git_output(path, ["fetch", "--quiet"], timeout)


def fast_forward(path: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
    """``git merge --ff-only @{upstream}``: git itself refuses anything but a fast-forward."""
    git_output(path, ["merge", "--ff-only", "--quiet", "@{upstream}"], timeout)
