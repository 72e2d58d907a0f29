"""Properties of the planner over random fleets and random worlds (hypothesis).

DESIGN.md: "applying a plan and observing again yields an empty plan; an
invalid spec yields no destructive action; nothing owned by somebody else is
ever in a plan". Applying is simulated by ``world.simulate`` (what apply.py and
starter.py do), at the same ``now`` and with no agent activity in between.

Where the second plan is legitimately not empty, the exception is spelled out
in ``_next_in_time``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import GHOST, OTHER_SESSION, fleets, scenarios, worlds
from world import HOST, NOW, REMOVAL, describe, simulate

from reconciler.core.actions import Action, Phase, Plan, Verb
from reconciler.core.model import Desired
from reconciler.core.observed import Observed, WorkerFiles
from reconciler.core.plan import placed, plan

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,  # no example database under the repository root
    suppress_health_check=[HealthCheck.too_slow],
)


def _plan(desired: Desired, observed: Observed, allow: bool = False) -> Plan:
    return plan(desired, observed, NOW, host=HOST, allow_mass_prune=allow)


def _wanted(desired: Desired) -> set[str]:
    return {n for n, w in desired.workers.items() if placed(w, HOST, desired.config.run_unplaced)}


def _known(observed: Observed) -> set[str]:
    return (
        set(observed.states)
        | set(observed.owned_windows())
        | {n for n, f in observed.files.items() if f.marker == n}
    )


def _show(title: str, actions: tuple[Action, ...]) -> str:
    return f"{title}:\n" + "\n".join(f"  {describe(a)}" for a in actions)


# -- legitimate "next step in time" and known bugs ------------------------------------


def _next_in_time(desired: Desired, first: Plan, second: Plan, a: Action) -> bool:
    """Whether ``a`` in the second plan is a step the first plan could not take yet.

    1. A dependency finished by a ``complete-stage`` of the first plan (its last
       stage exited 0): the planner reads signals as observed, so its dependents
       are provisioned on the next pass, not in the same one (no action builds
       on an earlier action's effect; STYLE.md "Avoid").
    2. Whatever follows a ``stop-agent`` of the first plan: stops are never
       waited for inside a pass, so a restart, a replacement or a teardown
       happens on the pass that sees the agent gone (DESIGN.md, safety rule 7).
       A parallelism slot a stopped worker held may go to another member of
       its WorkerSet then (an agent that had no state file holds no slot once
       its window is dead).
    3. ``ensure-session`` for such a start, when nothing else started in pass 1.
    """
    completed = {x.worker for x in first.actions if x.verb is Verb.COMPLETE_STAGE}
    late = {n for n, w in desired.workers.items() if set(w.depends_on) & completed}
    stopped = {x.worker for x in first.actions if x.verb is Verb.STOP_AGENT}
    stopped |= {
        m
        for ws in desired.worker_sets.values()
        if ws.parallelism is not None and stopped & set(ws.workers)
        for m in ws.workers
    }
    if a.verb is Verb.ENSURE_SESSION:
        return any(
            x.verb is Verb.START_AGENT and x.worker in late | stopped for x in second.actions
        )
    if a.worker in stopped and a.verb is not Verb.STOP_AGENT:
        return True
    return a.worker in late and a.verb in (
        Verb.CREATE_WORKTREE,
        Verb.START_AGENT,
        Verb.CLONE_REPO,
    )


def _holds_slot(observed: Observed, name: str) -> bool:
    """Whether ``name`` held a parallelism slot before the pass: a live agent, or a
    state in Running, Backoff or Provisioning (``WorkerView.was_active``)."""
    window = observed.window_of(name)
    s = observed.states.get(name)
    return (window is not None and not window.dead) or (
        s is not None
        and s.phase in (Phase.RUNNING.value, Phase.BACKOFF.value, Phase.PROVISIONING.value)
    )


# -- 1. apply, observe again: nothing left to do --------------------------------------


@SETTINGS
@given(scenarios(), st.booleans())
def test_second_plan_is_empty(scenario: tuple[Desired, Observed], allow: bool) -> None:
    desired, observed = scenario
    first = _plan(desired, observed, allow)
    after = simulate(desired, observed, first.actions, NOW)
    second = _plan(desired, after, allow)
    left = [a for a in second.actions if not _next_in_time(desired, first, second, a)]
    assert not left, "\n".join([_show("FIRST", first.actions), _show("SECOND", second.actions)])


@SETTINGS
@given(scenarios())
def test_third_plan_is_empty(scenario: tuple[Desired, Observed]) -> None:
    """After at most two passes at the same ``now`` (dependents start one pass late) all is done."""
    desired, observed = scenario
    first = _plan(desired, observed)
    after1 = simulate(desired, observed, first.actions, NOW)
    second = _plan(desired, after1)
    after2 = simulate(desired, after1, second.actions, NOW)
    third = _plan(desired, after2)
    left = [a for a in third.actions if not _next_in_time(desired, second, third, a)]
    assert not left, "\n".join(
        [
            _show("FIRST", first.actions),
            _show("SECOND", second.actions),
            _show("THIRD", third.actions),
        ]
    )


# -- 2. nothing owned by somebody else ------------------------------------------------


@SETTINGS
@given(scenarios(), st.booleans())
def test_foreign_windows_never_targeted(scenario: tuple[Desired, Observed], allow: bool) -> None:
    desired, observed = scenario
    result = _plan(desired, observed, allow)
    owned = observed.owned_windows()
    for a in (*result.actions, *result.blocked):
        assert a.worker != GHOST, describe(a)
        assert a.worker == "" or a.worker in desired.workers or a.worker in _known(observed), (
            describe(a)
        )
        if a.verb is Verb.KILL_WINDOW:
            assert a.worker in owned, f"kill-window without an owned window: {describe(a)}"
        if a.verb is Verb.STOP_AGENT:
            assert a.worker in owned and not owned[a.worker].dead, describe(a)
    assert GHOST not in result.statuses
    # and applying the plan leaves every foreign window exactly as it was
    after = simulate(desired, observed, result.actions, NOW)
    foreign = [p for p in observed.panes if p.session != observed.session or not p.worker]
    for p in foreign:
        assert p in after.panes, f"foreign window changed: {p}"


@SETTINGS
@given(scenarios())
def test_worker_seen_only_in_foreign_windows_is_unknown(scenario: tuple[Desired, Observed]) -> None:
    desired, observed = scenario
    result = _plan(desired, observed)
    elsewhere = {p.worker for p in observed.panes if p.session == OTHER_SESSION and p.worker}
    untagged = {p.window_name for p in observed.panes if not p.worker}
    for name in (elsewhere | untagged) - _known(observed) - set(desired.workers):
        assert all(a.worker != name for a in (*result.actions, *result.blocked)), name
        assert name not in result.statuses


# -- 3. removals ------------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_world_of_its_own_desired_never_removes(data: st.DataObject) -> None:
    """The loader raises on invalid specs, so "invalid input never prunes" comes to this:
    planning D over anything D's own reconciler could have left removes nothing of D."""
    desired = data.draw(fleets(placed_here=True))
    observed = data.draw(worlds(desired, from_desired=True))
    result = _plan(desired, observed, data.draw(st.booleans()))
    removals = [a for a in (*result.actions, *result.blocked) if a.verb in REMOVAL]
    assert not removals, _show("REMOVALS", tuple(removals))
    assert result.prune_count == 0


@SETTINGS
@given(scenarios(), st.booleans())
def test_removals_only_for_unwanted_or_replaced(
    scenario: tuple[Desired, Observed], allow: bool
) -> None:
    desired, observed = scenario
    result = _plan(desired, observed, allow)
    wanted = _wanted(desired)
    for a in (*result.actions, *result.blocked):
        if a.verb not in REMOVAL:
            continue
        if a.worker in wanted:  # only a replacement: placement (repo/branch/base) changed
            s = observed.states.get(a.worker)
            w = desired.workers[a.worker]
            assert s and s.placement_hash and s.placement_hash != w.placement_hash, describe(a)
            assert "repo, branch or base" in a.reason, describe(a)
        else:
            assert a.worker in _known(observed), describe(a)


@SETTINGS
@given(scenarios())
def test_mass_prune_guard(scenario: tuple[Desired, Observed]) -> None:
    desired, observed = scenario
    result = _plan(desired, observed, allow=False)
    known = _known(observed)
    removed = known - _wanted(desired)
    # The total counts every worker running before the pass, state file or not.
    running = {
        n for n in _wanted(desired)
        if observed.window_of(n) or observed.files.get(n, WorkerFiles()).worktree_exists
    }  # fmt: skip
    total = len(known | running)
    assert result.prune_total == total
    # Replacements (placement changed) tear worktrees down too and count alike.
    replaced = {
        n for n, w in desired.workers.items()
        if n in _wanted(desired) and not w.suspend
        and (s := observed.states.get(n)) is not None and s.placement_hash
        and s.placement_hash != w.placement_hash
        and (observed.window_of(n) or observed.files.get(n, WorkerFiles()).worktree_exists)
    }  # fmt: skip
    assert result.prune_count == len(removed) + len(replaced)
    targets = {a.worker for a in result.actions if a.verb in REMOVAL} - _wanted(desired)
    assert len(targets) <= desired.config.max_prune_fraction * total, sorted(targets)
    if result.blocked:
        assert not targets
        assert {a.worker for a in result.blocked} == removed | replaced
        # Every removal held back says so (Blocked, not Terminating), with its command.
        for name in {a.worker for a in result.blocked}:
            status = result.statuses[name]
            assert status.phase is Phase.BLOCKED, (name, status)
            assert "orch approve-prune" in status.reason, (name, status)
    allowed = _plan(desired, observed, allow=True)
    assert not allowed.blocked
    # An approval of exactly these workers lets the same prune through.
    approved = plan(desired, observed, NOW, host=HOST, approved=frozenset(removed | replaced))
    assert not approved.blocked
    assert approved.actions == allowed.actions
    # A live agent is stopped first; its removal follows on the pass that sees it gone.
    teardown = (*REMOVAL, Verb.STOP_AGENT)
    assert {a.worker for a in allowed.actions if a.verb in teardown} - _wanted(desired) == {
        n
        for n in removed
        if observed.window_of(n)
        or n in observed.states
        or observed.files.get(n, WorkerFiles()).worktree_exists
    }


# -- 4. reasons, determinism, parallelism, provisioning ------------------------------------


@SETTINGS
@given(scenarios(), st.booleans())
def test_reasons_and_determinism(scenario: tuple[Desired, Observed], allow: bool) -> None:
    desired, observed = scenario
    one = _plan(desired, observed, allow)
    two = _plan(desired, observed, allow)
    assert one == two
    for a in (*one.actions, *one.blocked):
        assert a.reason.strip(), f"empty reason: {a}"
    for s in one.statuses.values():
        assert s.reason.strip(), f"empty status reason: {s}"
    starts = [a for a in one.actions if a.verb is Verb.START_AGENT]
    if starts and not observed.session_exists:
        assert one.actions[0].verb is Verb.ENSURE_SESSION
    assert sum(a.verb is Verb.ENSURE_SESSION for a in one.actions) <= 1


def _live(observed: Observed, names: list[str]) -> int:
    owned = observed.owned_windows()
    return sum(1 for n in names if n in owned and not owned[n].dead)


def _slots(observed: Observed, names: list[str]) -> int:
    return sum(_holds_slot(observed, n) for n in names)


@SETTINGS
@given(scenarios())
def test_parallelism_never_grows_past_limit(scenario: tuple[Desired, Observed]) -> None:
    desired, observed = scenario
    result = _plan(desired, observed)
    after = simulate(desired, observed, result.actions, NOW)
    for ws in desired.worker_sets.values():
        if ws.parallelism is None:
            continue
        members = [n for n in ws.workers if n in _wanted(desired)]
        live = _live(after, members)
        assert live <= max(ws.parallelism, _slots(observed, members)), (
            f"{ws.name}: {live} agents alive, parallelism {ws.parallelism}\n"
            + _show("PLAN", result.actions)
        )


@SETTINGS
@given(scenarios())
def test_started_agents_get_current_spec_and_next_attempt(
    scenario: tuple[Desired, Observed],
) -> None:
    desired, observed = scenario
    result = _plan(desired, observed)
    after = simulate(desired, observed, result.actions, NOW)
    created: set[str] = set()
    for a in result.actions:
        if a.verb is Verb.CREATE_WORKTREE:
            created.add(a.worker)
        if a.verb is not Verb.START_AGENT:
            continue
        has_worktree = observed.files.get(a.worker, WorkerFiles()).worktree_exists
        assert has_worktree or a.worker in created, f"start-agent without a worktree: {describe(a)}"
        w = desired.workers[a.worker]
        assert a.worker in _wanted(desired) and not w.suspend, describe(a)
        assert a.stage in [s.name for s in desired.pipelines[w.pipeline].stages], describe(a)
        assert a.attempt >= 1, describe(a)
        window = after.window_of(a.worker)
        assert window is not None and window.spec == w.run_hash and not window.dead
