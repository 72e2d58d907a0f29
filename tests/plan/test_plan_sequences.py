"""Planner tests over several passes: plan, simulate apply, let agents act, plan again.

A worker's whole life (DESIGN.md "A worker's life") driven pass by pass, and
regression tests for planner bugs that only showed over more than one pass or
as an invariant (the mass-prune guard, queued replacements, a lost worktree).
"""

from __future__ import annotations

import builtins
import os
import pathlib
from dataclasses import replace

import pytest
from world import (
    HOST,
    NOW,
    REMOVAL,
    describe,
    make_desired,
    make_files,
    make_observed,
    make_pane,
    make_pipeline,
    make_stage,
    make_state,
    make_worker,
    simulate,
)

from reconciler.core.actions import Phase, Plan, Verb
from reconciler.core.model import Desired
from reconciler.core.observed import Observed, Signal, WorkerFiles
from reconciler.core.plan import plan


def _plan(desired: Desired, observed: Observed, now: float, allow: bool = False) -> Plan:
    return plan(desired, observed, now, host=HOST, allow_mass_prune=allow)


def _pass(desired: Desired, observed: Observed, now: float) -> tuple[Plan, Observed]:
    p = _plan(desired, observed, now)
    return p, simulate(desired, observed, p.actions, now)


def _lines(p: Plan) -> list[str]:
    """``Action.describe()`` without the reason: ``start-agent w1 (build #1)``."""
    return [a.describe().split(": ", 1)[0] for a in p.actions]


# -- what agents do between passes ------------------------------------------------


def agent_exits(observed: Observed, name: str, status: int) -> Observed:
    window = observed.window_of(name)
    assert window is not None and not window.dead
    panes = tuple(
        replace(p, dead=True, dead_status=status) if p is window else p for p in observed.panes
    )
    return replace(observed, panes=panes)


def agent_signals(observed: Observed, name: str, stage: str, kind: str, now: float) -> Observed:
    files = dict(observed.files)
    f = files[name]
    files[name] = replace(f, signals={**f.signals, stage: Signal(kind, "notes", now)}, activity=now)
    return replace(observed, files=files)


def test_a_workers_life() -> None:
    """Provision, build, crash, Backoff, restart, .done, stop, test (exit 0), Succeeded."""
    pipeline = make_pipeline(
        "p", [make_stage("build", stall_timeout=300), make_stage("test", done_when="exit0")]
    )
    desired = make_desired(
        [make_worker("w1", max_restarts=2, backoff_initial=10)], pipelines=[pipeline]
    )
    world = make_observed()
    t = NOW

    p, world = _pass(desired, world, t)
    assert _lines(p) == ["ensure-session fleet", "create-worktree w1", "start-agent w1 (build #1)"]
    assert _lines(_plan(desired, world, t)) == []

    world = agent_exits(world, "w1", 3)
    t += 5
    p, world = _pass(desired, world, t)
    assert _lines(p) == ["set-phase w1 (build, -> Backoff)"]
    assert p.actions[0].backoff_until == t + 10
    assert p.statuses["w1"].phase is Phase.BACKOFF

    p, world = _pass(desired, world, t + 9)
    assert _lines(p) == []
    t += 10
    p, world = _pass(desired, world, t)
    assert _lines(p) == ["start-agent w1 (build #2)"]
    assert p.actions[0].restart and p.actions[0].restarts == 1

    t += 400  # no activity for longer than stallTimeout
    p, world = _pass(desired, world, t)
    assert _lines(p) == ["stop-agent w1", "set-phase w1 (build, -> Backoff)"]
    assert p.actions[1].reason.startswith("stalled")
    t += 20  # second backoff: 10 * 2
    p, world = _pass(desired, world, t)
    assert _lines(p) == ["start-agent w1 (build #3)"]
    assert p.actions[0].restarts == 2

    world = agent_signals(world, "w1", "build", "done", t + 1)
    t += 2
    p, world = _pass(desired, world, t)  # the agent still runs: stop it, never wait for it
    assert _lines(p) == ["stop-agent w1 (before test #1)"]
    p, world = _pass(desired, world, t + 1)
    assert _lines(p) == ["start-agent w1 (test #1)"]
    assert p.actions[0].restarts == 0 and not p.actions[0].restart

    world = agent_exits(world, "w1", 0)
    t += 1
    p, world = _pass(desired, world, t)
    assert _lines(p) == ["complete-stage w1 (test)", "set-phase w1 (-> Succeeded)"]
    p, world = _pass(desired, world, t + 1000)
    assert _lines(p) == []
    assert p.statuses["w1"].phase is Phase.SUCCEEDED
    assert world.states["w1"].phase == Phase.SUCCEEDED.value


def test_crash_loop_ends_failed() -> None:
    """Every retry is bounded: maxRestarts crashes later the worker is Failed and stays so."""
    desired = make_desired([make_worker("w1", max_restarts=2, backoff_initial=10, backoff_max=15)])
    t = NOW
    _, world = _pass(desired, make_observed(), t)
    delays = []
    for _ in range(10):
        world = agent_exits(world, "w1", 1)
        p, world = _pass(desired, world, t)
        if p.statuses["w1"].phase is Phase.FAILED:
            break
        assert p.actions[-1].phase is Phase.BACKOFF
        delays.append(p.actions[-1].backoff_until - t)
        t = p.actions[-1].backoff_until
        p, world = _pass(desired, world, t)
        assert p.actions[0].verb is Verb.START_AGENT
    assert delays == [10, 15]  # doubling, capped at backoff.max
    assert world.states["w1"].phase == Phase.FAILED.value
    assert "gave up after 2 restart(s)" in world.states["w1"].reason
    assert _lines(_plan(desired, world, t + 10_000)) == []


def test_dependency_starts_one_pass_after_it_succeeds() -> None:
    """The dependent does not build on the complete-stage of the same pass (STYLE.md "Avoid")."""
    pipeline = make_pipeline("p", [make_stage("build", done_when="exit0")])
    desired = make_desired(
        [make_worker("a"), make_worker("b", depends_on=["a"])], pipelines=[pipeline]
    )
    p, world = _pass(desired, make_observed(), NOW)
    assert p.statuses["b"].phase is Phase.WAITING
    world = agent_exits(world, "a", 0)
    p, world = _pass(desired, world, NOW + 1)
    assert _lines(p) == ["complete-stage a (build)", "set-phase a (-> Succeeded)"]
    p, world = _pass(desired, world, NOW + 1)
    assert _lines(p) == ["create-worktree b", "start-agent b (build #1)"]


def test_hung_agent_is_restarted_a_bounded_number_of_times() -> None:
    """An agent that hangs on every attempt ends Failed after maxRestarts (default stall 15m)."""
    desired = make_desired([make_worker("w1", max_restarts=2, backoff_initial=10)])
    t = NOW
    _, world = _pass(desired, make_observed(), t)
    for _ in range(10):
        t += 901  # hangs: no activity for longer than stallTimeout (900s)
        p, world = _pass(desired, world, t)
        if p.statuses["w1"].phase is Phase.FAILED:
            break
        t = p.actions[-1].backoff_until or t
        p, world = _pass(desired, world, t)
    assert world.states["w1"].phase == Phase.FAILED.value, (
        f"still {world.states['w1'].phase} after 10 stalls, restarts {world.states['w1'].restarts}"
    )


def test_plan_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """plan() is pure: a url Repo's clone is judged from ``observed.missing_repos``."""
    desired = make_desired([make_worker("w1")], url="https://example.invalid/r.git")

    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"I/O in plan(): {args!r}")

    plans = {}
    failure = None
    with monkeypatch.context() as m:
        for name in ("exists", "is_file", "is_dir", "stat", "open", "read_text"):
            m.setattr(pathlib.Path, name, no_io)
        m.setattr(os, "stat", no_io)
        m.setattr(builtins, "open", no_io)
        try:
            for missing in ((), ("r",)):
                plans[missing] = _plan(desired, make_observed(missing_repos=missing), NOW)
        except AssertionError as err:
            failure = str(err)
    assert failure is None, failure
    assert Verb.CLONE_REPO not in [a.verb for a in plans[()].actions]
    assert [a.verb for a in plans[("r",)].actions][:3] == [
        Verb.ENSURE_SESSION,
        Verb.CLONE_REPO,
        Verb.CREATE_WORKTREE,
    ]


# -- regressions ---------------------------------------------------------------------


def test_mass_prune_guard_holds_on_the_next_tick() -> None:
    """Renaming the only worker (r0 -> w0) is a 100% prune: blocked, and still blocked later."""
    desired = make_desired([make_worker("w0")], max_prune_fraction=0.5)
    r0 = [make_pane("r0", "build", 1)], {"r0": make_files("r0")}, [make_state("r0")]
    world = make_observed(*r0)
    first, world = _pass(desired, world, NOW)
    assert first.blocked and (first.prune_count, first.prune_total) == (1, 1)
    # New workers wait too: they would raise the total and let the prune through.
    assert _lines(first) == []
    assert first.statuses["w0"].phase is Phase.PENDING
    second = _plan(desired, world, NOW + 10)
    removals = [describe(a) for a in second.actions if a.verb in REMOVAL]
    assert not removals, f"pruned on the next tick without --allow-mass-prune: {removals}"


def test_queued_replacement_does_not_exceed_parallelism() -> None:
    """parallelism 1, items [a, b]: a is new, b runs and its branch changed."""
    a = make_worker("a")
    b = make_worker("b", branch="orch/b-v2")
    desired = make_desired([a, b], parallelism=1)
    b_old = make_state(
        desired.workers["b"],
        "Running",
        "build",
        1,
        attempt_started_at=NOW - 10,
        placement="old-placement",
    )
    world = make_observed(
        [make_pane(desired.workers["b"], "build", 1)], {"b": make_files("b")}, [b_old]
    )
    p, after = _pass(desired, world, NOW)
    live = [w.worker for w in after.panes if w.worker and not w.dead]
    assert len(live) <= 1, f"live agents {live} with parallelism 1; plan: {_lines(p)}"


def test_start_agent_always_has_a_worktree() -> None:
    desired = make_desired([make_worker("w1")])
    w1 = desired.workers["w1"]
    world = make_observed(
        [make_pane(w1, "build", 1, dead=True, status=1)],
        {"w1": WorkerFiles(worktree_exists=False)},
        [make_state(w1, "Backoff", "build", 1, backoff_until=NOW - 1, reason="crashed")],
    )
    p = _plan(desired, world, NOW)
    seen_create = False
    for a in p.actions:
        seen_create |= a.verb is Verb.CREATE_WORKTREE
        if a.verb is Verb.START_AGENT:
            assert seen_create, f"start-agent without a worktree: {_lines(p)}"


def test_an_agent_ignoring_term_is_killed_after_the_grace_then_restarted() -> None:
    """Stops are verified on later passes: TERM, wait (no action), KILL after stopGrace, restart."""
    desired = make_desired([make_worker("w1", max_restarts=3, backoff_initial=5)])
    t = NOW
    _, world = _pass(desired, make_observed(), t)
    t += 901  # stalls
    p = _plan(desired, world, t)
    assert _lines(p) == ["stop-agent w1", "set-phase w1 (build, -> Backoff)"]
    # apply sent TERM; the agent ignores it
    stubborn = simulate(desired, world, [a for a in p.actions if a.verb is Verb.SET_PHASE], t)
    states = dict(stubborn.states)
    states["w1"] = replace(states["w1"], stop_sent_at=t)
    stubborn = replace(stubborn, states=states)
    assert _lines(_plan(desired, stubborn, t + 6)) == []  # backoff over, TERM 6s ago: wait
    kill = _plan(desired, stubborn, t + 10)
    assert _lines(kill) == ["stop-agent w1"] and kill.actions[0].force
    assert kill.stopping == ("w1",)
    gone = simulate(desired, stubborn, kill.actions, t + 10)
    assert _lines(_plan(desired, gone, t + 11)) == ["start-agent w1 (build #2)"]
