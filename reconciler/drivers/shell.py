"""Run a Repo's setup commands, and clone a Repo given by url."""

from __future__ import annotations

import contextlib
import os
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
