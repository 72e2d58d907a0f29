"""A worker's run report as a pure function: RunInput in, markdown out (packaged template)."""

from __future__ import annotations

import calendar
import time
from typing import Any

from reconciler.core.report import without_generated
from reconciler.core.run_report import (
    MAX_COMMITS,
    GitFacts,
    RunInput,
    render_run_report,
    run_context,
    stage_spans,
)
from reconciler.data import packaged

TEMPLATE = packaged("reports/templates/worker.md.j2")
T0 = calendar.timegm(time.strptime("2026-03-04T06:00:00", "%Y-%m-%dT%H:%M:%S"))


def ev(
    verb: str, at: str, stage: str | None = None, attempt: int = 0, **extra: Any
) -> dict[str, Any]:
    """An events.jsonl record of worker w1 at 2026-03-04T``at``Z."""
    out: dict[str, Any] = {"time": f"2026-03-04T{at}Z", "worker": "w1", "verb": verb, "ok": True}
    if stage:
        out["stage"] = stage
    if attempt:
        out["attempt"] = attempt
    return {**out, **extra}


EVENTS = [
    ev("create-worktree", "05:00:00", reason="new worker"),
    ev("start-agent", "05:00:01", "plan", 1, reason="new worker"),
    ev("phase Backoff", "05:02:00", "plan", reason="crashed: exit 3; restart in 10s"),
    ev("start-agent", "05:02:10", "plan", 2, reason="crashed: exit 3; restart in 10s; restart 1/3"),
    ev("start-agent", "05:09:01", "build", 1, reason="stage plan done"),
    ev("start-agent", "05:10:00", "build", 2, ok=False, error="tmux: boom"),  # failed: not a run
    ev("complete-stage", "05:40:31", "build", reason="agent exited 0"),
    ev("phase Succeeded", "05:40:31", "build", reason="all stages done"),
]


def row(**extra: Any) -> dict[str, Any]:
    base = {"name": "w1", "phase": "Succeeded", "stage": None, "stageIndex": 2, "stages": 2,
            "attempt": 1, "restarts": 1, "branch": "orch/w1", "repo": "app",
            "reason": "all stages done", "costUsd": 0.75, "pullRequest": None,
            "worktree": "/wt/w1"}  # fmt: skip
    return {**base, **extra}


def src(**extra: Any) -> RunInput:
    values: dict[str, Any] = {
        "row": row(),
        "events": EVENTS,
        "costs": {"plan#1": 0.1, "plan#2": 0.15, "build#1": 0.5},
        "git": GitFacts("abc", ("c2 second", "c1 first"), " a.txt | 2 +-\n 1 file changed"),
        "generated": T0,
        "summary": "build: all green",
        "base": "main",
    }
    values.update(extra)
    return RunInput(**values)


def test_stages_have_start_end_duration_attempts_and_result() -> None:
    spans, restarts = stage_spans(EVENTS)
    got = [(s["stage"], s["start"], s["end"], s["duration"], s["attempts"], s["result"])
           for s in spans]  # fmt: skip
    assert got == [
        ("plan", "2026-03-04T05:00", "2026-03-04T05:09", "9m", 2, "done"),
        ("build", "2026-03-04T05:09", "2026-03-04T05:40", "31m", 1, "done"),
    ]
    assert restarts == [{"time": "2026-03-04T05:02", "stage": "plan", "attempt": 2,
                         "reason": "crashed: exit 3; restart 1/3"}]  # fmt: skip


def test_a_running_stage_has_no_end_and_a_failed_one_says_so() -> None:
    spans, _ = stage_spans(EVENTS[:5])
    assert (spans[-1]["stage"], spans[-1]["end"], spans[-1]["duration"]) == ("build", "-", "-")
    assert spans[-1]["result"] == "running"
    failed = [*EVENTS[:5], ev("phase Failed", "05:20:00", "build", reason="stalled")]
    assert stage_spans(failed)[0][-1]["result"] == "failed"
    replaced = [*EVENTS[:5], ev("remove-worktree", "05:20:00", reason="spec changed: replacing"),
                ev("start-agent", "05:21:00", "plan", 1, reason="new worker")]  # fmt: skip
    spans = stage_spans(replaced)[0]
    assert [(s["stage"], s["result"]) for s in spans] == [
        ("plan", "done"), ("build", "removed"), ("plan", "running")]


def test_report_shows_every_section() -> None:
    text = render_run_report(TEMPLATE, src(row=row(pullRequest="https://forge.example/pull/4")))
    assert text.startswith("# w1: Succeeded\n")
    assert "| plan | 2026-03-04T05:00 | 2026-03-04T05:09 | 9m | 2 | $0.25 | done |" in text
    assert "| build | 2026-03-04T05:09 | 2026-03-04T05:40 | 31m | 1 | $0.50 | done |" in text
    assert "- 2026-03-04T05:02 plan #2: crashed: exit 3; restart 1/3" in text
    assert "## Commits on `orch/w1` since `main`: 2" in text
    assert "c2 second\nc1 first\n" in text
    assert " a.txt | 2 +-" in text
    assert "build: all green" in text
    assert "| cost | $0.75 |" in text
    assert "| restarts | 1 |" in text  # over every stage (the row's count is the stage's)
    assert "[https://forge.example/pull/4](https://forge.example/pull/4)" in text
    assert "[fleet report](../status.md)" in text


def test_nothing_yet_reads_as_none() -> None:
    text = render_run_report(TEMPLATE, src(events=[], git=GitFacts(), summary="", costs={},
                                           row=row(phase="Pending", costUsd=None)))  # fmt: skip
    assert "| - | - | - | - | - | - | not started |" in text
    assert "## Restarts\n\n- none" in text
    assert "since `main`: 0\n\nnone" in text
    assert "## Last summary\n\nnone" in text
    assert "| pull request | - |" in text


def test_long_histories_are_cut_and_counted() -> None:
    commits = tuple(f"c{i} commit" for i in range(MAX_COMMITS + 7))
    ctx = run_context(src(git=GitFacts("t", commits, "")))
    assert (len(ctx["commits"]), ctx["commits_total"]) == (MAX_COMMITS, MAX_COMMITS + 7)
    assert "(7 more)" in render_run_report(TEMPLATE, src(git=GitFacts("t", commits, "")))


def test_rendering_is_deterministic_but_for_the_generated_line() -> None:
    one = render_run_report(TEMPLATE, src())
    two = render_run_report(TEMPLATE, src(generated=T0 + 3600))
    assert one != two
    assert without_generated(one) == without_generated(two)
