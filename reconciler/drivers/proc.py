"""Signal a pane's process tree, tell whether it is alive, measure its CPU time.

tmux starts each pane's command as a session and process-group leader, so
signalling the group reaches the agent and the children it did not move
elsewhere. Children that made a group of their own (``setsid``, job control)
are found beforehand through their parent links and signalled one by one.
Processes are walked with psutil, never by reading ``/proc``, so this works
wherever psutil does (Linux, macOS).

Zombies count as dead: an orphan is reparented to PID 1, and where PID 1 does
not reap (measured in a container), the zombie stays in its group forever, so
``os.killpg(pgid, 0)`` alone would report a dead group as alive.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import psutil

from reconciler.core.errors import DriverError

# After SIGKILL only uninterruptible sleep can delay the end; wait this long at most.
_KILL_WAIT = 5.0


@dataclass(frozen=True)
class _Seen:
    """One process as a scan found it."""

    process: psutil.Process
    ppid: int
    pgid: int
    live: bool  # neither a zombie nor gone


def _scan() -> dict[int, _Seen]:
    """Every process visible to us: pid -> parent, process group, liveness."""
    seen: dict[int, _Seen] = {}
    for process in psutil.process_iter(["ppid", "status"]):
        try:
            pgid = os.getpgid(process.pid)
        except OSError:  # gone since it was listed, or hidden from us
            continue
        status = process.info["status"]
        # None is psutil's "could not read it", which it reports for zombies on some systems.
        live = status not in (psutil.STATUS_ZOMBIE, None)
        seen[process.pid] = _Seen(process, process.info["ppid"] or 0, pgid, live)
    return seen


def descendants(roots: Collection[int], parents: Mapping[int, int]) -> set[int]:
    """Every process below one of ``roots`` in a pid -> parent pid table (roots excluded).

    Examples
    --------
    >>> sorted(descendants({10}, {10: 1, 11: 10, 12: 11, 13: 1, 14: 12}))
    [11, 12, 14]
    >>> sorted(descendants({11, 13}, {10: 1, 11: 10, 12: 11, 13: 1, 14: 13}))
    [12, 14]
    >>> descendants({99}, {10: 1})
    set()
    """
    return _below(roots, _children(parents))


def _children(parents: Mapping[int, int]) -> dict[int, list[int]]:
    """The parent pid -> child pids table of a pid -> parent pid table."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    return children


def _below(roots: Collection[int], children: Mapping[int, list[int]]) -> set[int]:
    """Every process below one of ``roots`` in a parent -> children table (roots excluded)."""
    found: set[int] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found and child not in roots:
                found.add(child)
                stack.append(child)
    return found


def _alive(process: psutil.Process) -> bool:
    """True if ``process`` (the very one, not a reuse of its pid) runs and is no zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # ZombieProcess included
        return False
    except psutil.AccessDenied:
        return True  # it exists, owned by someone else


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    if pid < 1:
        return False
    try:
        return _alive(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def tree_alive(pid: int) -> bool:
    """True if ``pid`` itself is alive, or any process of process group ``pid``.

    Zombies do not count. Descendants that left the group are not looked at:
    they are found only while their parent links hold, so a caller that must
    wait for them keeps the list :func:`signal_tree` returned.
    """
    if pid < 1:
        return False
    if pid_alive(pid):
        return True
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False  # the group is empty, zombies included: no scan needed
    except PermissionError:
        pass  # a member exists, owned by someone else
    return any(seen.pgid == pid and seen.live for seen in _scan().values())


def _tree(pid: int) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """The live members of group ``pid``, and the live processes of its tree outside it.

    The tree is ``pid`` with its descendants and those of every group member
    (a member outlives its parent when the pane's shell exits first).
    """
    seen = _scan()
    group = [s for s in seen.values() if s.pgid == pid and s.live]
    roots = {pid} | {s.process.pid for s in group}
    below = descendants(roots, {p: s.ppid for p, s in seen.items()}) | {pid}
    strays = [seen[p] for p in sorted(below) if p in seen and seen[p].pgid != pid]
    return [s.process for s in group], [s.process for s in strays if s.live]


def _kill_cmd(sig: signal.Signals, pid: int, *, group: bool) -> str:
    """The shell command that sends ``sig`` to ``pid``, or to its process group.

    Examples
    --------
    >>> _kill_cmd(signal.SIGTERM, 42, group=True)
    'kill -TERM -42'
    >>> _kill_cmd(signal.SIGKILL, 42, group=False)
    'kill -KILL 42'
    """
    return f"kill -{sig.name.removeprefix('SIG')} {'-' if group else ''}{pid}"


def _kill_group(pgid: int, sig: signal.Signals) -> bool:
    """``killpg``; False if the group is gone, a DriverError if we may not signal it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError as err:
        raise DriverError(_kill_cmd(sig, pgid, group=True), str(err)) from err
    return True


def _kill_one(process: psutil.Process, sig: signal.Signals) -> bool:
    """Signal one process; False if it is gone (psutil also refuses a reused pid)."""
    try:
        process.send_signal(sig)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied as err:
        raise DriverError(_kill_cmd(sig, process.pid, group=False), str(err)) from err
    return True


def _signal_tree(
    pid: int, sig: signal.Signals, known: Iterable[psutil.Process] = ()
) -> list[psutil.Process]:
    """:func:`signal_tree`, also signalling ``known`` processes still alive; the ones reached."""
    if pid < 2:  # killpg(0) is our own group, killpg(1) would be init's
        raise DriverError(_kill_cmd(sig, pid, group=True), "not a process group orch may signal")
    group, strays = _tree(pid)  # before any signal: a dying parent loses its children's links
    listed = {p.pid for p in (*group, *strays)}
    strays += [p for p in known if p.pid not in listed and _alive(p)]
    sent = list(group) if group and _kill_group(pid, sig) else []
    sent += [process for process in strays if _kill_one(process, sig)]
    return sent


def signal_tree(pid: int, sig: signal.Signals) -> list[int]:
    """Send ``sig`` to process group ``pid`` and to the descendants that left it.

    The descendants are collected before any signal (once a parent dies, its
    children's links to the tree are lost), from ``pid`` and from every live
    member of the group; those outside the group (``setsid``, job control) get
    the signal one by one. Zombies are not signalled. A process that vanished
    meanwhile is not an error.

    Parameters
    ----------
    pid : int
        A process-group leader, e.g. a tmux pane's ``#{pane_pid}``; it may be
        dead already while members of its group live on.
    sig : signal.Signals
        The signal to send.

    Returns
    -------
    list[int]
        The pids signalled; empty when nothing was alive.

    Raises
    ------
    DriverError
        ``kill -SIG pid`` (``-pid`` for the group) when we may not signal a
        process, or when ``pid`` is below 2 (our own group, or init's).
    """
    return [process.pid for process in _signal_tree(pid, sig)]


def _wait_gone(pid: int, processes: Sequence[psutil.Process], seconds: float, poll: float) -> bool:
    """Poll until group ``pid`` and ``processes`` are dead; False if ``seconds`` ran out."""
    remaining = list(processes)
    deadline = time.monotonic() + seconds
    while True:
        remaining = [process for process in remaining if _alive(process)]
        if not remaining and not tree_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def stop_process_group(pid: int, grace: float = 10.0, poll: float = 0.05) -> bool:
    """Stop process group ``pid`` and the descendants that left it: TERM, then KILL.

    Blocking, for callers outside a reconcile pass. SIGTERM goes out as
    :func:`signal_tree` sends it; after ``grace`` seconds the survivors get
    SIGKILL, those signalled the first time included even when their parent
    died meanwhile (they are no longer found through the tree).

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
    first = _signal_tree(pid, signal.SIGTERM)
    if not first:
        return False  # only zombies, or nothing at all
    if _wait_gone(pid, first, grace, poll):
        return True
    _signal_tree(pid, signal.SIGKILL, first)
    if not _wait_gone(pid, first, _KILL_WAIT, poll):
        cmd = _kill_cmd(signal.SIGKILL, pid, group=True)
        raise DriverError(cmd, "processes still alive after SIGKILL")
    return True


def tree_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of ``pid`` and all its descendants.

    Descendants that ended and were waited for count through their parent's
    ``children_user`` and ``children_system`` (Linux; macOS reports 0 there),
    so the figure keeps growing while the tree works, even in short-lived
    children. A descendant that ends between listing and reading is skipped.

    Returns
    -------
    float or None
        The seconds; None when ``pid`` is gone or a zombie.
    """
    return tree_cpu_by_root([pid]).get(pid)


def _cpu(times: object) -> float:
    """User plus system seconds of one process and of the children it waited for."""
    fields = ("user", "system", "children_user", "children_system")
    return sum(float(getattr(times, name, 0.0)) for name in fields)


def tree_cpu_by_root(roots: Collection[int]) -> dict[int, float]:
    """CPU seconds (as :func:`tree_cpu_seconds`) of the tree of each of ``roots``, in one sweep.

    One pass over every process (parent links and CPU times together), however
    many roots: the reconciler measures all its agents at once. A root that is
    gone or a zombie is absent from the result; a process it cannot read
    counts zero.

    Examples
    --------
    >>> tree_cpu_by_root([os.getpid()])[os.getpid()] > 0
    True
    >>> tree_cpu_by_root([0])
    {}
    """
    wanted = {pid for pid in roots if pid > 0}
    if not wanted:
        return {}
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    live: set[int] = set()
    for process in psutil.process_iter(["ppid", "status", "cpu_times"]):
        info = process.info
        parents[process.pid] = info["ppid"] or 0
        seconds[process.pid] = _cpu(info["cpu_times"]) if info["cpu_times"] else 0.0
        if info["status"] not in (psutil.STATUS_ZOMBIE, None):
            live.add(process.pid)
    children = _children(parents)  # once: a table per root made a pass O(roots x processes)
    out: dict[int, float] = {}
    for root in wanted & live:
        tree = _below({root}, children) | {root}
        out[root] = sum(seconds[p] for p in tree)
    return out
