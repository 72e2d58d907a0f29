"""The dashboard's frame (reconciler.core.dashboard): status rows in, text out, no I/O."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.dashboard import (
    SPARK,
    Frame,
    fit_rows,
    phase_counts,
    render_text,
    sort_rows,
    sparkline,
)

NOW = 1_800_000_000.0


def worker(name: str, phase: str = "Running", **extra: Any) -> dict[str, Any]:
    """A status row as core.rows.status_rows makes it."""
    row: dict[str, Any] = {
        "name": name,
        "phase": phase,
        "stage": "build",
        "stageIndex": 1,
        "stages": 3,
        "attempt": 2,
        "restarts": 1,
        "lastActivity": None,
        "costUsd": None,
    }
    return {**row, **extra}


def frame(rows: list[dict[str, Any]], **extra: Any) -> Frame:
    return Frame(**{"rows": rows, "now": NOW, "fleet": "myfleet", **extra})


def test_needs_input_failed_and_limited_come_first_then_by_name() -> None:
    phases = {"a": "Running", "b": "Limited", "c": "Succeeded", "d": "Failed", "e": "NeedsInput",
              "f": "Failed"}  # fmt: skip
    rows = [worker(n, p) for n, p in phases.items()]
    assert [r["name"] for r in sort_rows(rows)] == ["e", "d", "f", "b", "a", "c"]


def test_a_row_shows_every_column() -> None:
    iso = "2027-01-15T07:59:50Z"
    text = render_text(
        frame(
            [worker("w1", lastActivity=iso, costUsd=1.254)],
            now=_ts(iso) + 10,
            last_lines={"w1": "running the tests"},
            growth={"w1": [0, 100, 50]},
        )
    )
    [line] = [x for x in text.splitlines() if x.startswith("w1 ")]
    assert line.split()[:8] == ["w1", "Running", "build", "(2/3)", "2", "1", "10s", "▁█▅"]
    assert line.split()[8:] == ["$1.25", "running", "the", "tests"]


def _ts(iso: str) -> float:
    import calendar
    import time

    return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")))


def test_the_header_has_counts_revision_last_pass_and_watcher() -> None:
    text = render_text(
        frame(
            [worker("a"), worker("b", "Failed"), worker("c")],
            revision={"sha": "abc1234", "subject": "add workers"},
            specs_dirty=True,
            last_pass=NOW - 75,
            watcher="pid 42 since 2027-01-15T07:00:00Z",
            width=150,
        )
    )
    first, second = text.splitlines()[:2]
    assert first == (
        "orch dashboard  myfleet  last pass 1m ago  watcher pid 42 since 2027-01-15T07:00:00Z  "
        "specs abc1234 (edited, not committed)"
    )
    assert second == "3 workers: 1 Failed, 2 Running"


def test_without_a_pass_or_watcher_the_header_says_so_and_an_error_is_shown() -> None:
    text = render_text(frame([worker("a")], error="specs/x.yaml:3:1: bad"))
    assert "no pass yet  no watcher running" in text.splitlines()[0]
    assert text.splitlines()[2] == "! specs/x.yaml:3:1: bad"
    assert any(line.startswith("a ") for line in text.splitlines())


def test_the_newest_events_are_at_the_bottom_and_failures_say_so() -> None:
    events = [
        {"time": f"2027-01-15T08:00:0{i}Z", "worker": "a", "verb": "start-agent",
         "reason": f"event {i}", "stage": "build", "attempt": i}
        for i in range(1, 9)
    ] + [{"time": "2027-01-15T08:00:09Z", "worker": "b", "verb": "stop-agent",
          "reason": "stall", "ok": False, "error": "tmux gone"}]  # fmt: skip
    lines = render_text(frame([worker("a")], events=events, height=40)).splitlines()
    tail = lines[lines.index("events") + 1 :]
    assert tail[-1] == "08:00:09 b stop-agent: stall FAILED: tmux gone"
    assert tail[0] == "08:00:04 a start-agent build#4: event 4"  # the 6 newest only
    assert len(tail) == 6


def test_a_hundred_workers_fit_the_terminal_with_a_summary_of_the_rest() -> None:
    rows = [worker(f"w{i:03d}", "Failed" if i % 40 == 0 else "Running") for i in range(100)]
    text = render_text(frame(rows, width=100, height=30))
    lines = text.splitlines()
    assert len(lines) <= 30
    assert all(len(line) <= 100 for line in lines)
    shown = [line.split()[0] for line in lines if line.startswith("w")]
    assert shown[:3] == ["w000", "w040", "w080"]  # the failed ones first
    [more] = [line for line in lines if line.startswith("... ")]
    assert more == f"... {100 - len(shown)} more: {100 - len(shown)} Running"
    assert "100 workers: 3 Failed, 97 Running" in lines[1]


def test_a_tiny_window_still_gets_the_header_and_a_summary() -> None:
    events = [{"time": "2027-01-15T08:00:01Z", "worker": "a", "verb": "x", "reason": "y"}]
    lines = render_text(frame([worker("a"), worker("b")], height=5, events=events)).splitlines()
    assert len(lines) <= 5
    assert lines[1:3] == ["2 workers: 2 Running", "... 2 more: 2 Running"]


def test_a_narrow_terminal_truncates_lines_instead_of_wrapping() -> None:
    name = "a-worker-with-a-long-name"
    text = render_text(frame([worker(name)], width=50, height=20, last_lines={name: "y" * 200}))
    assert all(len(line) <= 50 for line in text.splitlines())
    assert len(text.splitlines()) == 4  # title, counts, table header, the row


def test_fit_rows_keeps_everything_when_it_fits() -> None:
    rows = [worker("b"), worker("a")]
    assert fit_rows(rows, 2) == ([rows[1], rows[0]], None)


@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=30),
       st.integers(min_value=1, max_value=20))  # fmt: skip
def test_sparkline_is_as_wide_as_asked_and_peaks_at_the_largest_growth(
    values: list[int], width: int
) -> None:
    line = sparkline(values, width)
    assert len(line) == width
    recent = values[-width:]
    assert set(line) <= set(SPARK) | {" "}
    assert line.count(" ") == width - len(recent)
    if recent and max(recent) > 0:
        assert line[len(line) - len(recent) + recent.index(max(recent))] == SPARK[-1]
    bars = zip(line[width - len(recent) :], recent, strict=True)
    assert all(ch == SPARK[0] for ch, v in bars if v == 0)


@given(st.lists(st.sampled_from(["Running", "Failed", "Limited", "Odd"]), min_size=1))
def test_phase_counts_add_up(phases: list[str]) -> None:
    text = phase_counts([{"phase": p} for p in phases])
    total, _, parts = text.partition(" workers: ")
    assert int(total) == len(phases)
    assert sum(int(part.split()[0]) for part in parts.split(", ")) == len(phases)
