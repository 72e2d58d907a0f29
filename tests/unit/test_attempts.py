"""A worker's attempts from its events and state (core.attempts, pure)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.attempts import attempts
from reconciler.core.model import WorkerState


def ev(verb: str, t: int, **extra: Any) -> dict[str, Any]:
    return {"verb": verb, "time": f"T{t}", "reason": extra.pop("reason", verb), **extra}


def start(stage: str, n: int, t: int, **extra: Any) -> dict[str, Any]:
    return ev("start-agent", t, stage=stage, attempt=n, **extra)


def outcomes(events: list[dict[str, Any]], state: WorkerState | None = None) -> list[tuple]:
    return [(a["stage"], a["attempt"], a["outcome"], a["end"], a["reason"])
            for a in attempts(events, state)]  # fmt: skip


def test_a_stop_for_a_done_stage_is_done_and_the_last_stage_succeeds() -> None:
    events = [
        start("plan", 1, 1),
        ev("stop-agent", 2, reason="stage plan done"),
        start("build", 1, 3),
        ev("stop-agent", 4, reason="stage build done"),
        ev("phase Succeeded", 5, reason="all stages done"),
    ]
    assert outcomes(events) == [
        ("plan", 1, "done", "T2", "stage plan done"),
        ("build", 1, "succeeded", "T4", "all stages done"),
    ]


def test_crash_backoff_then_restart_and_give_up() -> None:
    events = [
        start("plan", 1, 1),
        ev("phase Backoff", 2, reason="crashed: exit 3"),
        start("plan", 2, 3, reason="restart 1/1"),
        ev("phase Failed", 4, reason="crashed: exit 3; 1 restarts used"),
    ]
    assert outcomes(events) == [
        ("plan", 1, "failed", "T2", "crashed: exit 3"),
        ("plan", 2, "failed", "T4", "crashed: exit 3; 1 restarts used"),
    ]


def test_failed_starts_other_workers_events_before_any_start_are_skipped() -> None:
    events = [
        ev("create-worktree", 0),
        ev("phase Backoff", 1),  # no attempt yet: nothing to end
        start("plan", 1, 2, ok=False),
        start("plan", 1, 3),
        ev("remove-worktree", 4, reason="removed from specs"),
    ]
    assert outcomes(events) == [("plan", 1, "removed", "T4", "removed from specs")]


def test_the_state_file_says_how_the_last_attempt_stands() -> None:
    events = [start("plan", 1, 1)]
    running = WorkerState("w", phase="Running", stage="plan", attempt=1, reason="stalled? no")
    assert outcomes(events, running) == [("plan", 1, "running", None, "stalled? no")]
    backoff = WorkerState("w", phase="Backoff", stage="plan", attempt=1, reason="stalled for 10m")
    assert outcomes(events, backoff)[0][2:] == ("failed", None, "stalled for 10m")
    other = WorkerState("w", phase="Backoff", stage="build", attempt=1, reason="x")
    assert outcomes(events, other)[0][2] == "running"  # not the attempt the state holds


VERBS = (
    "start-agent", "stop-agent", "complete-stage", "phase Backoff", "phase Failed",
    "phase Succeeded", "phase Running", "remove-worktree", "forget", "create-worktree",
)  # fmt: skip


def test_property_one_attempt_per_start_every_one_but_the_last_ended() -> None:
    event = st.fixed_dictionaries({
        "verb": st.sampled_from(VERBS), "stage": st.sampled_from(("plan", "build")),
        "attempt": st.integers(1, 3), "ok": st.booleans(),
    })  # fmt: skip

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.lists(event, max_size=30))
    def check(events: list[dict[str, Any]]) -> None:
        timed = [{**e, "time": f"T{i:03d}", "reason": f"r{i}"} for i, e in enumerate(events)]
        got = attempts(timed)
        starts = [e for e in timed if e["verb"] == "start-agent" and e["ok"]]
        assert [(a["stage"], a["attempt"], a["start"]) for a in got] == [
            (e["stage"], e["attempt"], e["time"]) for e in starts
        ]
        for a in got[:-1]:  # a later start ends every earlier attempt
            assert a["end"] is not None and a["outcome"] != "running", a
        for a in got:
            assert (a["end"] is None) == (a["outcome"] == "running"), a
            assert a["end"] is None or a["end"] >= a["start"], a

    check()
