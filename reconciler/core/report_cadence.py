"""When the watcher commits the fleet report (pure: times are arguments).

Two clocks. The regular one commits a changed report at most once per
``reports.minInterval``. An urgent event (a worker becoming Failed, or the
fleet becoming settled: every worker final, see :mod:`reconciler.core.outcome`)
starts a window of ``reports.settle``; when it closes, one commit carries
everything that changed in it, however many phases moved. An unchanged report (ignoring its
"Generated" line) is never committed.

The invariant (checked by a hypothesis property): two report commits closer
than ``minInterval`` are always separated by an urgent event that happened
after the first and at least ``settle`` before the second. Hence no two
commits are ever closer than ``min(minInterval, settle)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.core.actions import Phase
from reconciler.core.outcome import settled

# A worker entering one of these phases wants a person's attention soon.
URGENT_PHASES: frozenset[str] = frozenset({Phase.FAILED.value, Phase.NEEDS_INPUT.value})


@dataclass(frozen=True)
class Decision:
    """Commit now, or not; ``due``: when to look again (None: only when content changes)."""

    commit: bool
    due: float | None
    why: str


def urgent_changes(old: Mapping[str, str] | None, new: Mapping[str, str]) -> list[str]:
    """What in ``new`` is urgent and was not in ``old``: ``w1 Failed``, ``fleet settled``.

    ``old`` None (nothing known yet) is no change at all: a watcher started on
    a fleet that failed long ago has nothing urgent to say.

    Examples
    --------
    >>> urgent_changes({"a": "Running", "b": "Running"}, {"a": "Failed", "b": "Running"})
    ['a Failed']
    >>> urgent_changes({"a": "Running"}, {"a": "Succeeded"})
    ['fleet settled']
    >>> urgent_changes(None, {"a": "Failed"})
    []
    """
    if old is None:
        return []
    out = [
        f"{name} {phase}"
        for name, phase in sorted(new.items())
        if phase in URGENT_PHASES and old.get(name) != phase
    ]
    if settled(new) and not settled(old):
        out.append("fleet settled")
    return out


def digest(text: str) -> str:
    """A short fingerprint of a report's content (the caller drops the Generated line)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def decide(
    *,
    committed_at: float | None,
    committed: str | None,
    content: str | None,
    urgent: Iterable[float],
    now: float,
    min_interval: float,
    settle: float,
) -> Decision:
    """Whether to commit the report now, and when to look again.

    ``committed_at``/``committed``: time and content (digest) of the last report
    commit, None when there was none; ``content``: the report's content now,
    None when not rendered yet (taken as changed: the caller renders only
    when the clocks say a commit is due, then asks again);
    ``urgent``: times of urgent events (earlier ones, before the last commit,
    are ignored); ``now``: the time.

    Examples
    --------
    >>> decide(committed_at=0, committed="a", content="b", urgent=[], now=60,
    ...        min_interval=300, settle=30)
    Decision(commit=False, due=300, why='within reports.minInterval')
    >>> decide(committed_at=0, committed="a", content="b", urgent=[50], now=60,
    ...        min_interval=300, settle=30)
    Decision(commit=False, due=80, why='settling after an urgent change')
    >>> decide(committed_at=0, committed="a", content="b", urgent=[50], now=80,
    ...        min_interval=300, settle=30).commit
    True
    >>> decide(committed_at=0, committed="a", content="a", urgent=[50], now=900,
    ...        min_interval=300, settle=30)
    Decision(commit=False, due=None, why='unchanged')
    """
    if content is not None and content == committed:
        return Decision(False, None, "unchanged")
    if committed_at is None:
        return Decision(True, None, "first report")
    regular = committed_at + min_interval
    pending = [t for t in urgent if t > committed_at]
    settle_due = min(pending) + settle if pending else None
    if now >= regular:
        return Decision(True, None, "reports.minInterval passed")
    if settle_due is not None and now >= settle_due:
        return Decision(True, None, "urgent change settled")
    if settle_due is not None and settle_due < regular:
        return Decision(False, settle_due, "settling after an urgent change")
    return Decision(False, regular, "within reports.minInterval")
