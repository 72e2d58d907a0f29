"""The status report as a pure function: ReportInput in, markdown out.

Rendered with the template shipped in the package, so a change to the
template that breaks determinism, counts, rows, failures or the gantt chart
shows up here without tmux or git.
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

import pytest

from reconciler.core.report import (
    GENERATED_PREFIX,
    RECENT_EVENTS,
    ReportInput,
    commit_message,
    minute,
    render_report,
    report_context,
    without_generated,
)
from reconciler.data import packaged

TEMPLATE = packaged("reports/templates/status.md.j2")
T0 = calendar.timegm(time.strptime("2026-03-04T05:06:07", "%Y-%m-%dT%H:%M:%S"))


def row(name: str, phase: str = "Running", **extra: Any) -> dict[str, Any]:
    """A status row shaped like reconciler.core.rows.status_rows produces."""
    base: dict[str, Any] = {
        "name": name,
        "phase": phase,
        "stage": "build",
        "stageIndex": 1,
        "stages": 3,
        "attempt": 1,
        "restarts": 0,
        "lastActivity": "2026-03-04T05:00:59Z",
        "branch": f"orch/{name}",
        "worktree": f"/wt/{name}",
        "window": "orch:1",
        "reason": "running",
        "repo": "app",
        "workerSet": None,
        "pid": 123,
    }
    base.update(extra)
    return base


def event(worker: str, verb: str, at: str, **extra: Any) -> dict[str, Any]:
    """An events.jsonl record (Event.to_json shape)."""
    return {
        "time": at,
        "worker": worker,
        "verb": verb,
        "reason": extra.pop("reason", "r"),
        "ok": extra.pop("ok", True),
        **extra,
    }


def start(worker: str, stage: str, attempt: int, at: str, **extra: Any) -> dict[str, Any]:
    return event(worker, "start-agent", at, stage=stage, attempt=attempt, **extra)


def src(
    rows: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> ReportInput:
    values: dict[str, Any] = {
        "rows": rows if rows is not None else [row("w1"), row("w2", "Failed", reason="boom")],
        "events": events if events is not None else [],
        "revision": ("abc1234", "add workers"),
        "dirty": False,
        "host": None,
        "generated": T0,
        "ahead": {"w1": 2},
        "log_tails": {"w2": "last line of w2"},
    }
    values.update(extra)
    return ReportInput(**values)


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section (up to the next ``## ``)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    assert match, f"no section {title!r} in:\n{text}"
    return match.group(1)


def table_rows(body: str) -> list[list[str]]:
    """Cells of the markdown table rows in ``body`` (header and rule dropped)."""
    out = []
    for line in body.splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        out.append(cells)
    return out[1:]


def gantt_lines(text: str) -> list[str]:
    body = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in body.splitlines()][3:]  # after gantt/dateFormat/axisFormat


# -- determinism ---------------------------------------------------------------


def test_same_input_renders_the_same_bytes() -> None:
    events = [start("w1", "plan", 1, "2026-03-04T05:00:00Z")]
    one = render_report(TEMPLATE, src(events=events))
    two = render_report(TEMPLATE, src(events=list(events)))
    assert one == two


def test_only_the_generated_line_depends_on_the_time_of_rendering() -> None:
    events = [start("w1", "plan", 1, "2026-03-04T05:00:00Z")]
    early = render_report(TEMPLATE, src(events=events, generated=T0))
    late = render_report(TEMPLATE, src(events=events, generated=T0 + 86_400 + 3_600))
    assert early != late
    diff = [(a, b) for a, b in zip(early.splitlines(), late.splitlines(), strict=True) if a != b]
    assert len(diff) == 1
    assert diff[0][0] == "Generated 2026-03-04T05:06Z by orch."
    assert diff[0][1] == "Generated 2026-03-05T06:06Z by orch."
    assert without_generated(early) == without_generated(late)


def test_without_generated_drops_exactly_the_generated_line() -> None:
    text = "# t\n\nGenerated 2026-01-01T00:00Z by orch.\n\nbody\n"
    assert without_generated(text) == "# t\n\n\nbody"
    assert GENERATED_PREFIX == "Generated "
    assert without_generated("a\nb") == "a\nb"


def test_seconds_never_show_so_a_later_activity_in_the_same_minute_changes_nothing() -> None:
    a = render_report(TEMPLATE, src(rows=[row("w1", lastActivity="2026-03-04T05:00:01Z")]))
    b = render_report(TEMPLATE, src(rows=[row("w1", lastActivity="2026-03-04T05:00:59Z")]))
    assert a == b
    c = render_report(TEMPLATE, src(rows=[row("w1", lastActivity="2026-03-04T05:01:00Z")]))
    assert without_generated(a) != without_generated(c)


def test_minute() -> None:
    assert minute("2026-11-27T00:15:42Z") == "2026-11-27T00:15"
    assert minute(None) is None
    assert minute("") is None


# -- header --------------------------------------------------------------------


def test_header_names_host_revision_and_dirty_specs() -> None:
    text = render_report(TEMPLATE, src(host="build-1", dirty=True))
    assert text.startswith("# Fleet status: build-1\n")
    assert 'Specs at revision `abc1234` "add workers" (specs/ has uncommitted changes).' in text
    clean = render_report(TEMPLATE, src(host=None))
    assert clean.startswith("# Fleet status\n")
    assert "uncommitted" not in clean


def test_no_revision_says_so() -> None:
    text = render_report(TEMPLATE, src(revision=None))
    assert 'Specs at revision `none` "no commit touches specs/ or config/ yet".' in text


# -- counts and rows -------------------------------------------------------------


def test_counts_per_phase_in_lifecycle_order() -> None:
    rows = [
        row("a", "Failed"),
        row("b", "Running"),
        row("c", "Running"),
        row("d", "Pending"),
        row("e", "Succeeded"),
        row("f", "Running"),
    ]
    text = render_report(TEMPLATE, src(rows=rows, log_tails={}))
    assert table_rows(section(text, "Summary")) == [
        ["Pending", "1"],
        ["Running", "3"],
        ["Succeeded", "1"],
        ["Failed", "1"],
    ]
    ctx = report_context(src(rows=rows, log_tails={}))
    assert ctx["counts"] == [("Pending", 1), ("Running", 3), ("Succeeded", 1), ("Failed", 1)]


def test_no_workers_renders_empty_tables() -> None:
    text = render_report(TEMPLATE, src(rows=[], ahead={}, log_tails={}))
    assert table_rows(section(text, "Summary")) == []
    assert table_rows(section(text, "Workers")) == []
    assert "## Failures" not in text
    assert "- none" in section(text, "Recent events")


def test_worker_rows_show_stage_position_activity_branch_ahead_and_reason() -> None:
    rows = [
        row("w1", attempt=2, restarts=1, reason="stalled | restarting", costUsd=1.234),
        row(
            "w2",
            "Pending",
            stage=None,
            stageIndex=-1,
            lastActivity=None,
            attempt=0,
            reason="waiting for w1 to succeed",
        ),
        row("w3", "Provisioning", stage="plan", stageIndex=0, stages=3),
    ]
    text = render_report(TEMPLATE, src(rows=rows, ahead={"w1": 4, "w3": 0}, log_tails={}))
    assert table_rows(section(text, "Workers")) == [
        [
            "w1",
            "Running",
            "build (2/3)",
            "2",
            "1",
            "2026-03-04T05:00",
            "$1.23",
            "`orch/w1`",
            "4",
            "[report](workers/w1.md)",
            "-",
            "stalled \\| restarting",
        ],
        ["w2", "Pending", "-", "0", "0", "-", "-", "`orch/w2`", "-", "[report](workers/w2.md)", "-",
         "waiting for w1 to succeed"],
        [
            "w3",
            "Provisioning",
            "plan (1/3)",
            "1",
            "0",
            "2026-03-04T05:00",
            "-",
            "`orch/w3`",
            "0",
            "[report](workers/w3.md)",
            "-",
            "running",
        ],
    ]


def test_rows_keep_the_callers_order() -> None:
    rows = [row("zeta"), row("alpha"), row("mid")]
    text = render_report(TEMPLATE, src(rows=rows, log_tails={}))
    assert [r[0] for r in table_rows(section(text, "Workers"))] == ["zeta", "alpha", "mid"]


# -- failures ----------------------------------------------------------------------


def test_failures_section_has_reason_and_log_tail_per_failed_worker() -> None:
    rows = [
        row("ok"),
        row("bad", "Failed", reason="crashed: exit 3 (gave up after 2 restart(s))"),
        row("worse", "Failed", reason="stage build failed: no tests"),
    ]
    tails = {"bad": "step 1\nTraceback: boom", "worse": ""}
    text = render_report(TEMPLATE, src(rows=rows, log_tails=tails))
    failures = section(text, "Failures")
    assert "### ok" not in failures
    assert re.search(
        r"### bad\n\ncrashed: exit 3 \(gave up after 2 restart\(s\)\)\n\n```\nstep 1\n"
        r"Traceback: boom\n```",
        failures,
    )
    assert "### worse\n\nstage build failed: no tests\n\n```\n\n```" in failures
    assert failures.index("### bad") < failures.index("### worse")
    ctx = report_context(src(rows=rows, log_tails=tails))
    assert [f["name"] for f in ctx["failures"]] == ["bad", "worse"]


def test_no_failures_no_section() -> None:
    text = render_report(TEMPLATE, src(rows=[row("w1")], log_tails={}))
    assert "## Failures" not in text


# -- recent events -------------------------------------------------------------------


def test_recent_events_are_the_last_ones_to_the_minute() -> None:
    events = [
        event(f"w{i}", "set-phase", f"2026-03-04T05:{i:02d}:30Z", reason=f"n{i}")
        for i in range(RECENT_EVENTS + 5)
    ]
    events.append(event("", "ensure-session", "2026-03-04T05:59:59Z", reason="created"))
    events.append(start("w1", "plan", 2, "2026-03-04T06:00:00Z", ok=False, error="no tmux"))
    lines = [
        x
        for x in section(render_report(TEMPLATE, src(events=events)), "Recent events").splitlines()
        if x
    ]
    assert len(lines) == RECENT_EVENTS
    assert lines[0] == "- 2026-03-04T05:07 `w7` set-phase: n7"
    assert lines[-2] == "- 2026-03-04T05:59 `fleet` ensure-session: created"
    assert lines[-1] == "- 2026-03-04T06:00 `w1` start-agent plan#2: r (failed: no tmux)"


# -- gantt -------------------------------------------------------------------------


def test_gantt_stages_attempts_and_status() -> None:
    events = [
        event("", "ensure-session", "2026-03-04T05:00:00Z"),
        start("w1", "plan", 1, "2026-03-04T05:00:10Z"),
        start("w1", "build", 1, "2026-03-04T05:10:00Z"),
        start("w1", "build", 2, "2026-03-04T05:20:00Z"),  # a restart: same span, 2 attempts
        start("w2", "plan", 1, "2026-03-04T05:01:00Z"),
        start("w2", "build", 1, "2026-03-04T05:03:00Z"),
        event("w2", "phase Succeeded", "2026-03-04T05:30:00Z"),
        start("w3", "plan", 1, "2026-03-04T05:02:00Z"),
        start("w3", "plan", 2, "2026-03-04T05:04:00Z"),
        event("w3", "phase Failed", "2026-03-04T05:05:00Z"),
    ]
    text = render_report(TEMPLATE, src(events=events))
    assert gantt_lines(text) == [
        "section w1",
        "plan #1 :done, 2026-03-04T05:00, 2026-03-04T05:10",
        "build #2 :active, 2026-03-04T05:10, 2026-03-04T05:11",
        "section w2",
        "plan #1 :done, 2026-03-04T05:01, 2026-03-04T05:03",
        "build #1 :done, 2026-03-04T05:03, 2026-03-04T05:30",
        "section w3",
        "plan #2 :crit, 2026-03-04T05:02, 2026-03-04T05:05",
    ]


def test_gantt_ignores_failed_starts_untimed_events_and_other_verbs() -> None:
    events = [
        start("w1", "plan", 1, "2026-03-04T05:00:00Z", ok=False, error="tmux gone"),
        start("w1", "plan", 1, None),  # type: ignore[arg-type]
        event("w1", "create-worktree", "2026-03-04T05:00:00Z"),
        event("w1", "phase Backoff", "2026-03-04T05:00:30Z"),
        event("w2", "phase Succeeded", "2026-03-04T05:00:30Z"),  # no stage yet: nothing
    ]
    assert report_context(src(events=events))["gantt"] == []
    assert gantt_lines(render_report(TEMPLATE, src(events=events))) == []


def test_gantt_spans_last_at_least_one_minute_and_cross_midnight() -> None:
    events = [
        start("w1", "plan", 1, "2026-12-31T23:59:10Z"),
        start("w1", "build", 1, "2026-12-31T23:59:50Z"),  # same minute as plan's start
    ]
    assert gantt_lines(render_report(TEMPLATE, src(events=events))) == [
        "section w1",
        "plan #1 :done, 2026-12-31T23:59, 2027-01-01T00:00",
        "build #1 :active, 2026-12-31T23:59, 2027-01-01T00:00",
    ]


def test_gantt_ends_a_removed_workers_bar_at_its_teardown() -> None:
    events = [
        start("w1", "build", 1, "2026-03-04T05:00:00Z"),
        event("w1", "stop-agent", "2026-03-04T05:20:00Z"),  # not yet the end: it may linger
        event("w1", "remove-worktree", "2026-03-04T05:21:00Z"),
        event("w1", "kill-window", "2026-03-04T05:22:00Z"),  # already ended: stays at 05:21
        start("w2", "build", 1, "2026-03-04T05:00:00Z"),
        event("w2", "phase Failed", "2026-03-04T05:10:00Z"),
        event("w2", "remove-worktree", "2026-03-04T05:30:00Z"),  # a failed bar stays crit
    ]
    assert gantt_lines(render_report(TEMPLATE, src(events=events))) == [
        "section w1",
        "build #1 :done, 2026-03-04T05:00, 2026-03-04T05:21",
        "section w2",
        "build #1 :crit, 2026-03-04T05:00, 2026-03-04T05:10",
    ]


def test_restarts_column_keeps_earlier_stages_restarts() -> None:
    rows = [row("w1", restarts=0, restartsTotal=3), row("w2", restarts=2, restartsTotal=2)]
    cells = table_rows(section(render_report(TEMPLATE, src(rows=rows)), "Workers"))
    assert [c[4] for c in cells] == ["0 (3 total)", "2"]


def test_gantt_sections_are_sorted_by_worker() -> None:
    events = [start(n, "plan", 1, "2026-03-04T05:00:00Z") for n in ("zz", "aa", "mm")]
    ctx = report_context(src(events=events))
    assert [g["worker"] for g in ctx["gantt"]] == ["aa", "mm", "zz"]


# -- commit message -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phases", "message"),
    [
        (["Running"] * 3, "orch: status: 3 running"),
        (
            ["Failed", "Running", "Running", "Succeeded", "Pending"],
            "orch: status: 1 pending, 2 running, 1 succeeded, 1 failed",
        ),
        (["Backoff", "Queued"], "orch: status: 1 queued, 1 backoff"),
        ([], "orch: status: no workers"),
    ],
)
def test_commit_message(phases: list[str], message: str) -> None:
    assert commit_message([{"phase": p} for p in phases]) == message


def test_commit_message_matches_the_report_summary() -> None:
    rows = [row("a", "Failed"), row("b"), row("c")]
    text = render_report(TEMPLATE, src(rows=rows, log_tails={}))
    counts = table_rows(section(text, "Summary"))
    expected = ", ".join(f"{n} {p.lower()}" for p, n in counts)
    assert commit_message(rows) == f"orch: status: {expected}"
