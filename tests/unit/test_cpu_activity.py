"""CPU bookkeeping (core.cpu_activity) and where a pass keeps it (state/activity.json)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.cpu_activity import WINDOW, CpuMark, step
from reconciler.loop.activity import ActivityTracker

THRESHOLD = 0.5
gaps = st.lists(st.floats(min_value=0.05, max_value=40.0), min_size=1, max_size=60)


def run(gaps_s: list[float], rate: float) -> list[CpuMark]:
    """Marks after looks ``gaps_s`` apart at a tree using ``rate`` CPU seconds a second."""
    now, used = 1000.0, 5.0
    mark = step(None, 42, used, now, THRESHOLD)
    marks = [mark]
    for gap in gaps_s:
        now += gap
        used += gap * rate
        mark = step(mark, 42, used, now, THRESHOLD)
        marks.append(mark)
    return marks


@given(gaps, st.floats(min_value=0.0, max_value=THRESHOLD / (2 * WINDOW + 40)))
def test_an_idle_tree_is_never_active_however_often_it_is_looked_at(
    gaps_s: list[float], rate: float
) -> None:
    assert all(m.active_at is None for m in run(gaps_s, rate))


@given(gaps, st.floats(min_value=2 * THRESHOLD / WINDOW, max_value=4.0))
def test_a_busy_tree_is_active_within_a_window_and_a_look(gaps_s: list[float], rate: float) -> None:
    marks = run(gaps_s, rate)
    for mark in marks[1:]:
        # never older than a window plus the longest gap between looks
        assert mark.active_at is None or mark.active_at <= mark.since
    last = marks[-1]
    elapsed = sum(gaps_s)
    if elapsed >= WINDOW + max(gaps_s):
        assert last.active_at is not None
        assert sum(gaps_s) + 1000.0 - last.active_at <= WINDOW + max(gaps_s)


def test_a_new_process_starts_afresh_and_zero_turns_it_off() -> None:
    mark = step(step(None, 1, 0.0, 0.0, THRESHOLD), 1, 5.0, 10.0, THRESHOLD)
    assert mark.active_at == 10.0
    fresh = step(mark, 2, 9.0, 20.0, THRESHOLD)  # a new attempt's pane
    assert fresh == CpuMark(2, 9.0, 20.0, None)
    assert step(CpuMark(3, 0.0, 0.0), 3, 50.0, 10.0, 0.0).active_at is None


def test_the_tracker_keeps_marks_across_passes_and_writes_only_changes(tmp_path: Path) -> None:
    path = tmp_path / "activity.json"
    tracker = ActivityTracker(path)
    assert tracker.cpu_mark("w1") is None
    tracker.set_cpu_mark("w1", CpuMark(7, 1.0, 100.0, 90.0))
    tracker.save()
    again = ActivityTracker(path)
    assert again.cpu_mark("w1") == CpuMark(7, 1.0, 100.0, 90.0)
    again.set_cpu_mark("w1", CpuMark(7, 1.0, 100.0, 90.0))
    assert not again.dirty
    path.write_text('{"w1#cpu": {"pid": "seven"}}')
    assert ActivityTracker(path).cpu_mark("w1") is None  # a hand edit is no mark
