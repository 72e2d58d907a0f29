"""The planner: (desired, observed, now) -> ordered actions. Pure: no I/O, no clock.

``now`` is an argument. Every pass recomputes from the whole picture
(level-triggered), so a missed event, a crash or a hand-made change is
repaired on the next pass. Guard order per worker: removed -> tear down;
placement changed -> replace; suspended -> stop; dependencies -> wait; then
provision, advance, restart or leave alone.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.actions import Action, Phase, Plan, Verb, WorkerStatus
from reconciler.core.limits import apply_holds
from reconciler.core.model import Desired, RestartPolicy, Worker, WorkerState
from reconciler.core.observed import Observed
from reconciler.core.restarts import backoff_delay, error_delay
from reconciler.core.worker_plan import plan_worker, teardown_actions
from reconciler.core.worker_view import ACTIVE, WorkerResult

__all__ = [
    "backoff_delay", "blocked_note", "placed", "plan", "prune_blocked_reason", "teardown_actions",
]  # fmt: skip


def placed(worker: Worker, host: str, run_unplaced: bool) -> bool:
    """Whether ``worker`` runs on the reconciler of ``host``."""
    return worker.host == host if worker.host else run_unplaced


def plan(
    desired: Desired,
    observed: Observed,
    now: float,
    *,
    host: str,
    allow_mass_prune: bool = False,
    approved: frozenset[str] = frozenset(),
) -> Plan:
    """Every action that brings the world in line with ``desired``, in order.

    ``approved``: workers a person let the mass-prune guard remove (`orch
    approve-prune`); a prune passes when every worker it removes is among them.
    """
    cfg = desired.config
    wanted = {n: w for n, w in desired.workers.items() if placed(w, host, cfg.run_unplaced)}
    known = observed.known_workers()
    removed = sorted(known - set(wanted))
    results = {name: plan_worker(w, desired, observed, now) for name, w in wanted.items()}
    _apply_parallelism(desired, results)
    account_actions, wake_at = apply_holds(desired, observed, results, now)
    statuses = {n: r.status for n, r in results.items()}
    removals: list[Action] = []
    for name in removed:
        why = _why_removed(desired, name)
        held = (_taken_over(name, observed) or _removal_held(name, observed, now)
                or _unreadable(name, observed))  # fmt: skip
        if held is None:
            removals += teardown_actions(name, observed, why, now, cfg.stop_grace)
        statuses[name] = held or _removed_status(name, observed, why)
    # Everything orch runs before this pass, whether or not its state file exists yet.
    total = len(known | {n for n in wanted if _exists(observed, n)})
    # A replacement (repo, branch or base changed) tears a worktree down too.
    replaced = [n for n, r in results.items() if r.replacing]
    count = len(removed) + len(replaced)
    blocked: tuple[Action, ...] = ()
    allowed = allow_mass_prune or {*removed, *replaced} <= approved
    if count and not allowed and count > cfg.max_prune_fraction * total:
        blocked = (*removals, *(a for n in replaced for a in results[n].teardown))
        removals = []
        # New workers would dilute the guard (a renamed fleet would pass on the next
        # tick), so nothing new starts while a mass prune waits for a person.
        _hold_new_workers(results, count, total)
        for name in removed:
            if statuses[name].phase is Phase.TERMINATING:
                statuses[name] = replace(statuses[name], phase=Phase.BLOCKED,
                                         reason=prune_blocked_reason(count, total))  # fmt: skip
    actions = account_actions + [a for r in results.values() for a in r.actions] + removals
    if any(a.verb is Verb.START_AGENT for a in actions) and not observed.session_exists:
        actions.insert(
            0, Action(Verb.ENSURE_SESSION, "", f'tmux session "{observed.session}" missing')
        )
    for name, r in results.items():
        statuses[name] = r.status
    stopping = [n for n, r in results.items() if r.stopping]
    stopping += [n for n in removed if _alive(observed, n) and n not in _held(statuses)
                 and not blocked]  # fmt: skip
    pruning = tuple(sorted({*removed, *replaced}))
    return Plan(tuple(actions), blocked, statuses, count, total, tuple(sorted(stopping)), wake_at,
                pruning)  # fmt: skip


def _alive(observed: Observed, name: str) -> bool:
    window = observed.window_of(name)
    return window is not None and not window.dead


def _held(statuses: dict[str, WorkerStatus]) -> set[str]:
    return {n for n, s in statuses.items() if s.phase in (Phase.FAILED, Phase.TAKEN_OVER)}


def _taken_over(name: str, observed: Observed) -> WorkerStatus | None:
    """A removed worker a person drives stays until `orch release` or `cleanup --force`."""
    s = observed.states.get(name)
    if s is None or not s.taken_over:
        return None
    reason = (f"removed from the specs, but taken over by a person: `orch release {name}` "
              f"lets orch save and remove it (or `orch cleanup {name} --force`)")  # fmt: skip
    return WorkerStatus(name, Phase.TAKEN_OVER, s.stage, -1, 0, s.attempt, s.restarts, reason)


def _unreadable(name: str, observed: Observed) -> WorkerStatus | None:
    """A removed worker whose worktree cannot be read is left alone, and says why."""
    files = observed.files.get(name)
    if files is None or not files.unreadable:
        return None
    s = observed.states.get(name) or WorkerState(name)
    reason = f"removed, but its worktree cannot be read: {files.unreadable}; nothing was touched"
    return WorkerStatus(name, Phase.FAILED, s.stage, -1, 0, s.attempt, s.restarts, reason)


def _removal_held(name: str, observed: Observed, now: float) -> WorkerStatus | None:
    """A removed worker whose last teardown step failed: back off, give up after a bound."""
    s = observed.states.get(name)
    if s is None or not s.errors or s.error_at is None:
        return None
    policy = RestartPolicy()
    if s.errors > policy.max_restarts:
        reason = (
            f"teardown gave up after {s.errors} failed tries: {s.error}; "
            f"fix it, then `orch cleanup {name} --yes`"
        )
        return WorkerStatus(name, Phase.FAILED, s.stage, -1, 0, s.attempt, s.restarts, reason)
    retry_at = s.error_at + error_delay(s.errors, s.error, policy)
    if now >= retry_at:
        return None
    reason = f"{s.error}; retry {s.errors}/{policy.max_restarts} in {int(retry_at - now + 0.999)}s"
    return WorkerStatus(name, Phase.TERMINATING, s.stage, -1, 0, s.attempt, s.restarts, reason)


def _exists(observed: Observed, name: str) -> bool:
    files = observed.files.get(name)
    on_disk = bool(files and (files.worktree_exists or files.unfinished))
    return observed.window_of(name) is not None or on_disk


def _why_removed(desired: Desired, name: str) -> str:
    worker = desired.workers.get(name)
    if worker is None:
        return "removed from specs"
    return f"placed on host {worker.host}" if worker.host else "unplaced workers do not run here"


def prune_blocked_reason(count: int, total: int) -> str:
    """Why a removal waits: the guard, and the command that lets it go.

    Examples
    --------
    >>> prune_blocked_reason(2, 3)
    'removal blocked: removing 2 of 3 workers needs `orch approve-prune` (or --allow-mass-prune)'
    """
    return (
        f"removal blocked: removing {count} of {total} workers needs `orch approve-prune` "
        "(or --allow-mass-prune)"
    )


def blocked_note(held: Plan) -> str:
    """One line on a held mass prune, counted in workers (as `orch plan` and the watcher say)."""
    return (
        f"blocked by the mass-prune guard: removing {held.prune_count} of {held.prune_total} "
        f"workers needs --allow-mass-prune or `orch approve-prune` ({', '.join(held.pruning)})"
    )


def _hold_new_workers(results: dict[str, WorkerResult], count: int, total: int) -> None:
    """New workers wait while a mass prune is blocked; replaced ones are Blocked themselves."""
    held = f"held: removing {count} of {total} workers needs `orch approve-prune`"
    for name, r in results.items():
        if r.replacing:
            why = prune_blocked_reason(count, total)
            results[name] = WorkerResult((), replace(r.status, phase=Phase.BLOCKED, reason=why))
        elif r.status.phase is Phase.PROVISIONING:
            results[name] = WorkerResult((), replace(r.status, phase=Phase.PENDING, reason=held))


def _removed_status(name: str, observed: Observed, reason: str) -> WorkerStatus:
    s = observed.states.get(name) or WorkerState(name)
    return WorkerStatus(name, Phase.TERMINATING, s.stage, -1, 0, s.attempt, s.restarts, reason)


def _apply_parallelism(desired: Desired, results: dict[str, WorkerResult]) -> None:
    """Hold back new starts beyond a WorkerSet's parallelism; they wait, in item order."""
    for ws in desired.worker_sets.values():
        if ws.parallelism is None:
            continue
        members = [n for n in ws.workers if n in results]
        held = sum(
            1 for n in members if results[n].status.phase in ACTIVE and not results[n].starts
        )
        for name in members:
            r = results[name]
            if not r.starts:
                continue
            if held < ws.parallelism:
                held += 1
                continue
            results[name] = replace(
                r,
                actions=r.teardown,
                starts=False,
                status=replace(
                    r.status,
                    phase=Phase.QUEUED,
                    reason=f"queued: {held}/{ws.parallelism} of {ws.name} running",
                ),
            )
