"""Kill a tmux client that hangs, so a timed-out call leaves no process behind.

psutil is imported lazily, on a timeout only: CLI start-up time matters.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path

# After a timeout, how long to look for the hung client (its thread may not have started it).
ABANDON_WAIT = 1.0


def kill_hung_client(worker: threading.Thread, socket: str, argv: Sequence[str]) -> None:
    """Kill the tmux client ``worker`` waits for, trying for a bounded time.

    The client is this process's child running ``tmux ... -L<socket> ... argv``
    (the argv tail tells it from another thread's call). A worker slow to
    start may not have spawned it yet, hence the retries. The worker itself
    may wait on: the client hands its stdout to the server, so a stopped
    server holds that pipe open until it resumes or exits. It is a daemon
    thread, left to that.
    """
    import psutil

    wanted = f"-L{socket}"
    deadline = time.monotonic() + ABANDON_WAIT
    while worker.is_alive() and time.monotonic() < deadline:
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):  # gone, or a zombie already
                cmdline = child.cmdline()
                ours = Path(cmdline[0]).name.startswith("tmux") and wanted in cmdline
                if ours and cmdline[-len(argv) :] == list(argv):
                    child.kill()
                    return
        worker.join(0.05)
