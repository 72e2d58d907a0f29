"""Run a short command detached, under a time limit of its own; reap it later without waiting.

A small Python wrapper (:data:`_WRAPPER`, run with ``python -I -c``) starts
the command in a process group of its own (still in the terminal's session,
so it may write to ``/dev/tty``; a Ctrl-C there does not reach it), waits
at most ``timeout`` seconds, then kills the command's process group and
exits 124 (as timeout(1)). The limit holds even when the caller exits
meanwhile. The caller keeps the :class:`Detached` handle and calls
:meth:`Detached.poll` when convenient: never a blocking wait.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

TIMED_OUT = 124  # the wrapper's exit status when it killed the command
NOT_FOUND = 127  # the command could not be started

_WRAPPER = """
import os, signal, subprocess, sys
limit, argv = float(sys.argv[1]), sys.argv[2:]
try:
    child = subprocess.Popen(argv, process_group=0)
except OSError as err:
    sys.stderr.write(f"cannot run {argv[0]}: {err.strerror}\\n")
    sys.exit(127)
try:
    code = child.wait(timeout=limit)
except subprocess.TimeoutExpired:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except OSError:
        pass
    child.wait()
    sys.stderr.write(f"killed after {limit:g}s\\n")
    sys.exit(124)
sys.exit(code if code >= 0 else 128 - code)
"""

_TAIL = 400  # bytes of the command's stderr kept for a failure's message


@dataclass
class Detached:
    """A command started by :func:`start`; ``poll`` says whether and how it ended."""

    argv: tuple[str, ...]
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]

    def poll(self) -> tuple[int, str] | None:
        """None while it runs; then its exit status and the end of its stderr (reaped)."""
        code = self.process.poll()
        if code is None:
            return None
        self.stderr.seek(0, os.SEEK_END)
        size = self.stderr.tell()
        self.stderr.seek(max(0, size - _TAIL))
        text = self.stderr.read().decode("utf-8", "replace").strip()
        self.stderr.close()
        return code, text.splitlines()[-1] if text else ""


def start(argv: Sequence[str], env: Mapping[str, str], timeout: float, cwd: Path) -> Detached:
    """Start ``argv`` with ``env`` added to ours, killed after ``timeout`` seconds.

    Its stdin and stdout are /dev/null; stderr goes to an unlinked temporary
    file (read back by :meth:`Detached.poll`). Nothing here waits for it.
    """
    err = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this call: Detached.poll closes it
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", _WRAPPER, str(timeout), *argv],
            env={**os.environ, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            process_group=0,  # a Ctrl-C meant for the watcher does not reach it; /dev/tty works
        )
    except OSError:
        err.close()
        raise
    return Detached(tuple(argv), process, err)
