"""The git calls of `orch repos` and `orch run`: status, last commit, branch, fetch, fast-forward.

Every call goes through :func:`reconciler.drivers.git.run_git` (GitPython,
bounded by a timeout), with prompts off and C messages. Output is parsed by
:mod:`reconciler.core.git_status`; a failure is a
:class:`~reconciler.core.errors.DriverError` naming the subcommand and git's
first line of complaint.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reconciler.core.errors import DriverError
from reconciler.drivers.git import run_git

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
    env = {**os.environ, **_ENV}
    try:
        out = run_git(path, *args, env=env, timeout=timeout)
    except DriverError as err:
        raise DriverError(err.cmd, _first_complaint(err.stderr) or err.stderr) from err
    return out + "\n" if out else ""  # as git printed it: the parsers take whole lines


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
