"""Reading a worker's run log: which file, its last lines, following it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from reconciler.core.errors import UsageError
from reconciler.loop.state_store import StateStore


def current_log(root: Path, worker: str) -> Path:
    """The log of the worker's current (or last) attempt."""
    state = StateStore(root / "state").load_all().get(worker)
    if state and state.log and Path(state.log).exists():
        return Path(state.log)
    folder = root / "state" / "logs" / worker
    candidates = (
        sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    )
    if not candidates:
        msg = f'no log for worker "{worker}" (has it started? see orch status)'
        raise UsageError(msg)
    return candidates[-1]


def tail_lines(path: Path, count: int, block: int = 64 * 1024) -> list[str]:
    """The last ``count`` lines of ``path``, reading only its end."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        data = b""
        while size > 0 and data.count(b"\n") <= count:
            step = min(block, size)
            size -= step
            fh.seek(size)
            data = fh.read(step) + data
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-count:] if count > 0 else []


def follow_file(path: Path, interval: float = 0.25) -> Iterator[str]:
    """New text appended to ``path``, as it comes (until the caller stops)."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        while True:
            chunk = fh.read()
            if chunk:
                yield chunk.decode("utf-8", "replace")
            else:
                time.sleep(interval)
