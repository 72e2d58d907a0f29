"""When the watcher commits the report: reconciler.core.report_cadence (pure)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.outcome import exit_code, settled
from reconciler.core.report_cadence import URGENT_PHASES, Decision, decide, urgent_changes

MIN, SETTLE = 300.0, 30.0


def at(
    now: float, *, last: float | None = 0.0, urgent: tuple[float, ...] = (), same: bool = False
) -> Decision:
    return decide(
        committed_at=last,
        committed="old",
        content="old" if same else "new",
        urgent=urgent,
        now=now,
        min_interval=MIN,
        settle=SETTLE,
    )


def test_a_changed_report_waits_for_min_interval() -> None:
    assert (at(10).commit, at(10).due) == (False, MIN)
    assert at(MIN - 0.001).commit is False
    assert at(MIN).commit is True
    assert at(MIN + 5000).commit is True


def test_an_unchanged_report_is_never_committed_however_late_or_urgent() -> None:
    done = at(10 * MIN, urgent=(1.0,), same=True)
    assert (done.commit, done.due, done.why) == (False, None, "unchanged")


def test_the_first_report_is_committed_at_once() -> None:
    assert at(5, last=None).commit is True


def test_urgent_events_commit_once_their_window_closed() -> None:
    urgent = (100.0, 101.0, 120.0, 129.0)  # many phases in one window
    assert at(110, urgent=urgent).due == 130.0  # the first event opens it
    assert at(129.9, urgent=urgent).commit is False
    assert at(130, urgent=urgent).commit is True


def test_urgent_events_before_the_last_commit_do_not_count() -> None:
    done = at(200, last=150, urgent=(100.0, 150.0))
    assert (done.commit, done.due) == (False, 150 + MIN)


def test_a_window_closing_after_min_interval_is_the_regular_commit() -> None:
    assert at(290, urgent=(280.0,)).due == MIN


def test_settled_and_urgent_changes() -> None:
    assert "Failed" in URGENT_PHASES
    assert settled({"a": "Succeeded", "b": "Failed"})
    assert not settled({"a": "Succeeded", "b": "Running"})
    assert not settled({})
    assert settled({"a": "Failed", "b": "Blocked"})  # a dependency failed: nothing moves it
    assert (exit_code(["Succeeded"]), exit_code(["Failed", "Succeeded"])) == (0, 1)
    assert exit_code(["Succeeded", "Backoff"]) is None
    old = {"a": "Running", "b": "Failed", "c": "Running"}
    assert urgent_changes(old, {"a": "Failed", "b": "Failed", "c": "Running"}) == ["a Failed"]
    assert urgent_changes(old, {"a": "Succeeded", "b": "Failed", "c": "Succeeded"}) == [
        "fleet settled"
    ]
    assert urgent_changes(old, old) == []
    assert urgent_changes(None, {"a": "Failed"}) == []
    # a settled fleet that stays settled says it once
    done = {"a": "Succeeded"}
    assert urgent_changes(done, {"a": "Failed"}) == ["a Failed"]
    assert urgent_changes(done, done) == []


# -- the invariant, over random histories ------------------------------------------------


@dataclass
class Watcher:
    """The shell's use of decide(): ticks at the given times, commits when told."""

    min_interval: float
    settle: float
    commits: list[float] = field(default_factory=list)
    urgent: list[float] = field(default_factory=list)
    committed: str | None = None
    content: str = "c0"

    def tick(self, now: float, *, change: bool, urgent: bool) -> float | None:
        if change:
            self.content = f"c{now}"
        if urgent:
            self.urgent.append(now)
        decision = decide(
            committed_at=self.commits[-1] if self.commits else None,
            committed=self.committed,
            content=self.content,
            urgent=self.urgent,
            now=now,
            min_interval=self.min_interval,
            settle=self.settle,
        )
        if decision.commit:
            self.commits.append(now)
            self.committed = self.content
        return decision.due


steps = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=200.0), st.booleans(), st.booleans()),
    max_size=60,
)


def walk(
    w: Watcher, steps: list[tuple[float, bool, bool]], *, follow: bool
) -> Iterator[float | None]:
    """Tick ``w`` through ``steps``; yield each tick's due time.

    With ``follow`` the watcher also comes back at each due time, as the loop does.
    """
    now = 0.0
    for gap, change, urgent in steps:
        now += gap
        due = w.tick(now, change=change, urgent=urgent)
        yield due
        if follow and due is not None:
            assert due > now
            assert w.tick(due, change=False, urgent=False) is None  # it commits then
            assert w.commits[-1] == due
            now = due


def test_a_worker_waiting_for_a_person_is_urgent_and_does_not_settle_the_fleet() -> None:
    old = {"a": "Running", "b": "Succeeded"}
    new = {"a": "NeedsInput", "b": "Succeeded"}
    assert urgent_changes(old, new) == ["a NeedsInput"]
    assert not settled(new)


@settings(max_examples=300, deadline=None)
@given(
    steps=steps,
    min_interval=st.floats(min_value=1.0, max_value=500.0),
    settle=st.floats(min_value=0.0, max_value=100.0),
)
def test_commits_closer_than_min_interval_follow_a_settled_urgent_event(
    steps: list[tuple[float, bool, bool]], min_interval: float, settle: float
) -> None:
    w = Watcher(min_interval, settle)
    for _ in walk(w, steps, follow=True):
        pass
    for first, second in zip(w.commits, w.commits[1:], strict=False):
        assert second > first
        if second < first + min_interval:  # as decide() adds them (floats)
            assert any(first < u and u + settle <= second for u in w.urgent), (first, second)
            assert second - first > settle * (1 - 1e-9)  # hence never closer than settle


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_a_changed_report_is_never_left_uncommitted_past_min_interval(
    steps: list[tuple[float, bool, bool]],
) -> None:
    w = Watcher(MIN, SETTLE)
    for due in walk(w, steps, follow=False):
        if w.content == w.committed:
            assert due is None
            continue
        assert due is not None
        assert due <= w.commits[-1] + MIN
        pending = [u for u in w.urgent if u > w.commits[-1]]
        if pending:
            assert due <= min(pending) + SETTLE
