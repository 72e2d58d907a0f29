"""Run a Repo's setup commands; clone a Repo given by url, and move such a clone."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from reconciler.core.errors import DriverError


def run_logged(
    command: str,
    cwd: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600.0,
) -> int:
    """Run one setup command with ``/bin/sh -c`` in ``cwd``; append its output to ``log``.

    The command is a line the user wrote in their own spec (like a Makefile
    recipe), so it goes to the shell as written. Returns the exit code.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {command}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                start_new_session=True,  # its own group: a timeout ends its children too
            )
        except OSError as err:
            raise DriverError(command, str(err)) from err
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            out.write(f"[orch: timed out after {timeout:g}s]\n".encode())
            return 124


def clone(url: str, path: Path) -> None:
    """``git clone url path`` (a plain clone, argv only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["git", "clone", "--quiet", "--", url, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DriverError("git clone", done.stderr)


def move_clone(old: Path, new: Path, timeout: float = 60.0) -> list[str]:
    """Move a clone from ``old`` to ``new`` and reconnect its linked worktrees to it.

    A worktree's ``.git`` file names its repository's path; after the move
    ``git worktree repair`` rewrites them. Returns the worktrees reconnected.
    """
    new.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(old, new)  # a rename on one file system
    linked = []
    for gitdir in sorted((new / ".git" / "worktrees").glob("*/gitdir")):
        with contextlib.suppress(OSError):
            worktree = Path(gitdir.read_text().strip()).parent
            if worktree.is_dir():
                linked.append(str(worktree))
    if linked:
        done = subprocess.run(
            ["git", "-C", str(new), "worktree", "repair", *linked],
            capture_output=True, text=True, check=False, timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0:
            raise DriverError("git worktree repair", done.stderr)
    return linked
