"""CPU time as activity: an agent computing silently is not hung (pure: numbers in, marks out).

Each pass measures the CPU seconds of every agent's process tree (one
psutil sweep, :func:`reconciler.drivers.proc.tree_cpu_by_root`). A worker's
:class:`CpuMark` remembers, in state/activity.json, the figure at the start
of the current window: when the tree used more than ``threshold`` seconds
since then, that is activity now and a new window starts; a window older
than :data:`WINDOW` starts again without activity. So a build or a test run
(a core busy, or several processes) counts, while an idle process's timers
(a few milliseconds a minute) never add up to activity, however often the
passes come.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

WINDOW = 60.0  # seconds over which CPU use must exceed the threshold to count


@dataclass(frozen=True)
class CpuMark:
    """One worker's CPU bookkeeping: whose tree, the window's start, the last activity."""

    pid: int  # the pane's process: another one (a new attempt) starts afresh
    base: float  # the tree's CPU seconds when the window began
    since: float  # when the window began
    active_at: float | None = None  # the last time the tree used more than the threshold


def step(
    mark: CpuMark | None, pid: int, seconds: float, now: float, threshold: float
) -> CpuMark:
    """``mark`` after seeing ``seconds`` of CPU used by ``pid``'s tree at ``now``.

    ``threshold`` 0 (or less): CPU never counts.

    Examples
    --------
    >>> m = step(None, 7, 10.0, 100.0, 0.5)
    >>> m
    CpuMark(pid=7, base=10.0, since=100.0, active_at=None)
    >>> step(m, 7, 10.2, 110.0, 0.5) == m    # idle so far: the window goes on
    True
    >>> step(m, 7, 11.0, 110.0, 0.5)         # busy: activity now, a new window
    CpuMark(pid=7, base=11.0, since=110.0, active_at=110.0)
    >>> step(m, 7, 10.4, 161.0, 0.5)         # a whole window nearly idle: starts again
    CpuMark(pid=7, base=10.4, since=161.0, active_at=None)
    >>> step(m, 8, 50.0, 110.0, 0.5).base    # another process: afresh
    50.0
    """
    if mark is None or mark.pid != pid or seconds < mark.base:
        return CpuMark(pid, seconds, now)
    if threshold > 0 and seconds - mark.base > threshold:
        return CpuMark(pid, seconds, now, now)
    if now - mark.since >= WINDOW:
        return CpuMark(pid, seconds, now, mark.active_at)
    return mark


def to_json(mark: CpuMark) -> dict[str, Any]:
    """``mark`` as JSON-ready data."""
    return asdict(mark)


def from_json(data: object) -> CpuMark | None:
    """A mark read back; None when ``data`` is not one (a hand edit, an older file).

    Examples
    --------
    >>> from_json(to_json(CpuMark(3, 1.5, 9.0, 8.0)))
    CpuMark(pid=3, base=1.5, since=9.0, active_at=8.0)
    >>> from_json({"pid": "x"}), from_json(None)
    (None, None)
    """
    if not isinstance(data, Mapping):
        return None
    pid, base, since, active = (data.get(k) for k in ("pid", "base", "since", "active_at"))
    number = int | float
    if not (isinstance(pid, int) and isinstance(base, number) and isinstance(since, number)):
        return None
    active_at = float(active) if isinstance(active, int | float) else None
    return CpuMark(pid, float(base), float(since), active_at)


def sweep_interval(stall_timeouts: Iterable[float]) -> float:
    """How often a pass measures CPU: a quarter of the shortest stall timeout, 1 to 30 s.

    Measuring reads every process of the machine (about 0.2 s at 3000), and a
    stall is decided over minutes: a mark a few seconds old is as good.

    Examples
    --------
    >>> sweep_interval([900.0, 300.0]), sweep_interval([3.0]), sweep_interval([])
    (30.0, 1.0, 30.0)
    >>> sweep_interval([60.0])
    15.0
    """
    shortest = min(stall_timeouts, default=4 * MAX_SWEEP_INTERVAL)
    return max(1.0, min(MAX_SWEEP_INTERVAL, shortest / 4))


MAX_SWEEP_INTERVAL = 30.0
