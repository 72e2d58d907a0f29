"""Stop a pane's process tree and tell whether a process is alive.

tmux starts each pane's command as a session and process-group leader, so
signalling the group reaches the agent and the children it did not move
elsewhere. Children that made their own group (``setsid``, job control) are
found beforehand through the parent links in ``/proc/*/stat`` and signalled
one by one.

Zombies count as dead: an orphan is reparented to PID 1, and where PID 1 does
not reap (measured in a container), the zombie stays in its group forever, so
``os.killpg(pgid, 0)`` alone would report a dead group as alive.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from reconciler.core.errors import DriverError

_PROC = Path("/proc")
# After SIGKILL only uninterruptible sleep can delay the end; wait this long at most.
_KILL_WAIT = 5.0


def _stat_fields(pid: int) -> tuple[str, int, int] | None:
    """State, parent pid and process group of ``pid`` from ``/proc/<pid>/stat``.

    The command name (field 2) may hold spaces and parentheses, so the fields
    after it are read from the last ``)``.
    """
    try:
        text = (_PROC / str(pid) / "stat").read_text(errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        return None


def _process_table() -> dict[int, tuple[str, int, int]]:
    """One pass over ``/proc``: pid -> (state, ppid, pgrp); empty where /proc is absent."""
    table: dict[int, tuple[str, int, int]] = {}
    try:
        entries = list(_PROC.iterdir())
    except OSError:
        return table
    for entry in entries:
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                table[int(entry.name)] = fields
    return table


def descendants(pid: int, table: Mapping[int, int]) -> set[int]:
    """Every process below ``pid`` in a pid -> parent pid table (``pid`` excluded).

    Examples
    --------
    >>> sorted(descendants(10, {10: 1, 11: 10, 12: 11, 13: 1, 14: 12}))
    [11, 12, 14]
    >>> descendants(99, {10: 1})
    set()
    """
    children: dict[int, list[int]] = {}
    for child, parent in table.items():
        children.setdefault(parent, []).append(child)
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found and child != pid:
                found.add(child)
                stack.append(child)
    return found


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    fields = _stat_fields(pid)
    return fields is None or fields[0] != "Z"


def _group_alive(pgid: int) -> bool:
    """True if a live (non-zombie) process remains in group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    table = _process_table()
    if not table:
        return True  # no /proc to tell zombies apart: trust killpg
    return any(pgrp == pgid and state != "Z" for state, _, pgrp in table.values())


def _signal(pgid: int, pids: Iterable[int], sig: signal.Signals) -> bool:
    """Send ``sig`` to group ``pgid`` and to each of ``pids``; True if any existed."""
    sent = False
    try:
        os.killpg(pgid, sig)
        sent = True
    except ProcessLookupError:
        pass
    except PermissionError as err:
        cmd = f"kill -{sig.name} -{pgid}"
        raise DriverError(cmd, str(err)) from err
    for pid in pids:
        try:
            os.kill(pid, sig)
            sent = True
        except ProcessLookupError:
            pass
        except PermissionError as err:
            cmd = f"kill -{sig.name} {pid}"
            raise DriverError(cmd, str(err)) from err
    return sent


def _wait_gone(pgid: int, pids: Iterable[int], seconds: float, poll: float) -> bool:
    """Poll until group ``pgid`` and ``pids`` are gone; False if ``seconds`` ran out."""
    remaining = list(pids)
    deadline = time.monotonic() + seconds
    while True:
        remaining = [pid for pid in remaining if pid_alive(pid)]
        if not remaining and not _group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def stop_process_group(pid: int, grace: float = 10.0, poll: float = 0.05) -> bool:
    """Stop process group ``pid`` and the descendants that left it: TERM, then KILL.

    Descendants are collected from ``/proc`` before any signal; those outside
    the group get their own signals. After ``grace`` seconds the survivors get
    SIGKILL. A process that vanished meanwhile is not an error.

    Parameters
    ----------
    pid : int
        A process-group leader, e.g. a tmux pane's ``#{pane_pid}``.
    grace : float
        Seconds between SIGTERM and SIGKILL.
    poll : float
        Seconds between checks.

    Returns
    -------
    bool
        True if any process was signalled.

    Raises
    ------
    DriverError
        If a process may not be signalled, or survives SIGKILL for 5 seconds.
    """
    table = _process_table()
    others = sorted(
        p
        for p in descendants(pid, {p: ppid for p, (_, ppid, _) in table.items()}) | {pid}
        if p in table and table[p][2] != pid and table[p][0] != "Z"
    )
    if not others and not _group_alive(pid):
        return False  # only zombies, or nothing at all
    if not _signal(pid, others, signal.SIGTERM):
        return False
    if _wait_gone(pid, others, grace, poll):
        return True
    _signal(pid, others, signal.SIGKILL)
    if not _wait_gone(pid, others, _KILL_WAIT, poll):
        cmd = f"kill -KILL -{pid}"
        raise DriverError(cmd, "processes still alive after SIGKILL")
    return True
