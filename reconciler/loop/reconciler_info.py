"""Who reconciles this control repo: the lock's holder, and when the last pass ran.

`orch status` says whether a reconciler runs (pid, host, since when, watcher or
one-shot) and when its last pass was. It writes nothing: whether someone holds
``state/.lock`` is tried with a shared flock given back at once (a holder's
exclusive lock refuses it), and the lock file says who. Each pass writes
``state/last-pass.json`` (time, pid, actions, events).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from reconciler.core.duration import utc_iso
from reconciler.loop.state_store import LOCK_FILE, holder_alive, lock_holder, write_atomic

LAST_PASS_FILE = "last-pass.json"


def record_pass(state_dir: Path, now: float, actions: int, events: int) -> None:
    """Remember that a pass ran at ``now`` (by this process), and what it did."""
    data = {"time": utc_iso(now), "ts": now, "pid": os.getpid(), "actions": actions,
            "events": events}  # fmt: skip
    write_atomic(state_dir / LAST_PASS_FILE, json.dumps(data) + "\n")


def last_pass(state_dir: Path) -> dict[str, Any] | None:
    """What :func:`record_pass` wrote last, or None."""
    try:
        data = json.loads((state_dir / LAST_PASS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def lock_is_held(lock: Path) -> bool | None:
    """Whether some process holds the flock on ``lock``; None when it cannot be tried.

    A shared lock is asked for without waiting and given back at once: the
    holder's exclusive lock refuses it. Nothing is written. (The kernel's
    table, /proc/locks, would tell without touching the lock, but listing it
    takes milliseconds on some kernels, on every `orch status`.) A reconciler
    starting in that very instant finds its lock taken and tries again
    (:func:`~reconciler.loop.state_store.reconciler_lock`).
    """
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # gives the shared lock back
    return False


def holder_gone(info: dict[str, Any]) -> bool:
    """Whether the lock file names a process of this host that no longer exists.

    No one holds the lock then (the kernel drops a flock with its holder, and
    orch's descriptors do not outlive an exec), so the lock need not be tried.
    A new holder rewrites the file right after taking the lock. Anything else
    (a live pid, maybe reused; another host; no pid) is not proof, and the lock
    is tried.
    """
    return holder_alive(info) is False


def reconciler_status(state_dir: Path, now: float | None = None) -> dict[str, Any]:
    """``running`` (bool, or None when unknown), the holder (pid, host, since, watch),
    and the last pass (time, seconds ago, pid)."""
    now = time.time() if now is None else now
    holder = lock_holder(state_dir)
    held = False if holder_gone(holder) else lock_is_held(state_dir / LOCK_FILE)
    holder = holder if held is not False else {}
    last = last_pass(state_dir)
    ago = None
    if last and isinstance(last.get("ts"), int | float):
        ago = round(max(0.0, now - float(last["ts"])), 1)
    return {
        "running": held,
        "pid": holder.get("pid"),
        "host": holder.get("host"),
        "since": holder.get("since"),
        "watch": holder.get("watch") is True,
        "lastPass": last.get("time") if last else None,
        "lastPassAgo": ago,
        "lastPassPid": last.get("pid") if last else None,
    }
