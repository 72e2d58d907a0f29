"""Run one shell command with a stall watchdog: no output for a while, or too long, ends it.

The command runs with ``/bin/sh -c`` in a session (and process group) of its
own, stdout and stderr on one pipe. Every byte it writes goes to the log file
as written, and each complete line to a callback (for a prefixed live view).
When nothing came for ``stall`` seconds, or ``timeout`` passed, or ``cancel``
is set, the whole group (and the descendants that left it) gets SIGTERM,
then SIGKILL after ``grace`` (:func:`reconciler.drivers.proc.stop_process_group`).
Processes the command left running in its group when it exited are stopped
the same way: a workflow's background jobs do not outlive it.

After the leader exits and is reaped, ``killpg(pid, 0)`` says whether anything
is left in its group, without a scan of every process (the usual case:
nothing). The group's id cannot go to another process while the group has
members (POSIX: a process id is not reused while a group of that id exists).
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reconciler.core.errors import DriverError
from reconciler.drivers.proc import stop_process_group

_POLL = 0.5  # longest wait between looks at the leader, the clock and ``cancel``
_CHUNK = 65536
_DRAIN = 0.5  # after the leader exited, how long output still in flight is copied


@dataclass(frozen=True)
class Finished:
    """How a watched command ended.

    ``killed`` is ``"stall"``, ``"timeout"`` or ``"cancelled"`` when the
    watchdog ended it (``exit_code`` is then the signal's negative number),
    None when it exited by itself.
    """

    exit_code: int
    killed: str | None
    duration: float


class _Lines:
    """Bytes in, complete decoded lines out (to ``sink``); the rest kept for the next chunk."""

    def __init__(self, sink: Callable[[str], None] | None) -> None:
        self.sink = sink
        self.rest = b""

    def feed(self, chunk: bytes) -> None:
        if self.sink is None:
            return
        *lines, self.rest = (self.rest + chunk).split(b"\n")
        for line in lines:
            self.sink(line.rstrip(b"\r").decode(errors="replace"))

    def close(self) -> None:
        if self.sink is not None and self.rest:
            self.sink(self.rest.decode(errors="replace"))
        self.rest = b""


def run_watched(
    command: str,
    cwd: Path,
    log: Path,
    *,
    stall: float,
    timeout: float,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    grace: float = 2.0,
) -> Finished:
    """Run ``command`` in ``cwd`` under the watchdog; append its output to ``log``.

    Raises
    ------
    DriverError
        When the command cannot be started (no such folder, no /bin/sh).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        start = time.monotonic()  # before the spawn: the command may run before Popen returns
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                start_new_session=True,  # its own group: the watchdog ends its children too
            )
        except OSError as err:
            raise DriverError(command, str(err)) from err
        assert proc.stdout is not None
        lines = _Lines(on_line)
        with proc.stdout:
            killed = _pump(proc, out, lines, start, stall, timeout, cancel)
        lines.close()
        if killed:
            stop_process_group(proc.pid, grace=grace)
        code = proc.wait()
        if not killed and _group_left(proc.pid):
            with contextlib.suppress(DriverError):  # members we may not signal stay
                stop_process_group(proc.pid, grace=grace)
        return Finished(code, killed, time.monotonic() - start)


def _group_left(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a member (its leader is gone)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pump(
    proc: subprocess.Popen[bytes],
    out: BinaryIO,
    lines: _Lines,
    start: float,
    stall: float,
    timeout: float,
    cancel: threading.Event | None,
) -> str | None:
    """Copy output until the leader exits, or until there is a reason to kill it.

    Returns the reason (None: it exited by itself).
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    last, eof = start, False
    while True:
        now = time.monotonic()
        if cancel is not None and cancel.is_set():
            return "cancelled"
        if now - last >= stall:
            return "stall"
        if now - start >= timeout:
            return "timeout"
        if proc.poll() is not None:
            _drain(fd, out, lines)
            return None
        wait = max(0.0, min(_POLL, stall - (now - last), timeout - (now - start)))
        if eof:  # the pipe is closed: only the leader's exit is left to wait for
            time.sleep(min(wait, 0.02))
        elif select.select([fd], [], [], wait)[0]:
            chunk = os.read(fd, _CHUNK)
            eof = not chunk
            if chunk:
                last = time.monotonic()
                _copy(chunk, out, lines)


def _copy(chunk: bytes, out: BinaryIO, lines: _Lines) -> None:
    out.write(chunk)
    out.flush()
    lines.feed(chunk)


def _drain(fd: int, out: BinaryIO, lines: _Lines) -> None:
    """Copy what the pipe holds once the leader exited; a child that keeps writing
    to it gets ``_DRAIN`` seconds, then is stopped with the rest of the group."""
    deadline = time.monotonic() + _DRAIN
    while time.monotonic() < deadline and select.select([fd], [], [], 0.05)[0]:
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            return
        _copy(chunk, out, lines)
