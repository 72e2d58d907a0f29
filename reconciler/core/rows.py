"""Fleet status as data: one row a worker, for `orch status`, reports and MCP (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.actions import Phase, Plan
from reconciler.core.duration import utc_iso
from reconciler.core.limits import worker_cost
from reconciler.core.model import Desired, WorkerState
from reconciler.core.observed import Observed, WorkerFiles

NOT_STARTED = "not started: no reconciler running (`orch reconcile` starts it)"
# Rows shown first, in this order: the workers that need (or have) a person.
PERSON_FIRST = (Phase.NEEDS_INPUT.value, Phase.TAKEN_OVER.value)


def status_rows(
    desired: Desired, observed: Observed, plan: Plan, *, reconciling: bool = True
) -> list[dict[str, Any]]:
    """Rows with the keys name, phase, stage, attempt, restarts, lastActivity, branch,
    worktree, window, reason (and a few more); desired workers first, then removed ones.

    ``reconciling``: whether a reconciler runs. Without one, a worker orch never
    started is Pending, "not started", rather than what a pass would make it.
    """
    rows = []
    for name, st in plan.statuses.items():
        worker = desired.workers.get(name)
        state = observed.states.get(name)
        window = observed.window_of(name)
        phase, reason, attempt = st.phase.value, st.reason, st.attempt
        if not reconciling and st.phase is Phase.PROVISIONING and state is None and not window:
            phase, reason, attempt = Phase.PENDING.value, NOT_STARTED, 0
        if state and state.worktree:
            worktree = state.worktree
        elif worker:
            worktree = str(desired.worktree_path(worker))
        else:
            worktree = None
        rows.append(
            {
                "name": name,
                "phase": phase,
                "stage": st.stage,
                "stageIndex": st.stage_index,
                "stages": st.stages,
                "attempt": attempt,
                "restarts": st.restarts,
                "restartsTotal": max(st.restarts, state.restarts_total if state else 0),
                "lastActivity": utc_iso(st.last_activity),
                "branch": worker.branch if worker else (state.branch if state else None),
                "worktree": worktree,
                "window": f"{window.session}:{window.window_index}" if window else None,
                "reason": reason,
                "repo": worker.repo if worker else (state.repo if state else None),
                "workerSet": worker.worker_set if worker else None,
                "pid": window.pane_pid if window and not window.dead else None,
                "costUsd": _cost(state, observed.files.get(name)),
                "sessionId": _session(state, observed.files.get(name)),
                "pullRequest": state.pr_url if state and state.pr_url else None,
            }
        )
    return person_first(rows)


def person_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NeedsInput rows first, then TakenOver ones, then the rest; each group in its order.

    Examples
    --------
    >>> rows = [{"name": "a", "phase": "Running"}, {"name": "b", "phase": "TakenOver"},
    ...         {"name": "c", "phase": "NeedsInput"}, {"name": "d", "phase": "Failed"}]
    >>> [r["name"] for r in person_first(rows)]
    ['c', 'b', 'a', 'd']
    """
    rank = {phase: i for i, phase in enumerate(PERSON_FIRST)}
    return sorted(rows, key=lambda r: rank.get(str(r["phase"]), len(rank)))


def _cost(state: WorkerState | None, files: WorkerFiles | None) -> float | None:
    cost = worker_cost(state, files)
    return None if cost is None else round(cost, 4)


def _session(state: WorkerState | None, files: WorkerFiles | None) -> str | None:
    stream = files.stream if files else None
    hooks = files.hooks if files else None
    found = (stream and stream.session_id) or (hooks and hooks.session_id)
    return found or (state.session_id if state else None)


def observed_rows(observed: Observed) -> list[dict[str, Any]]:
    """Rows from what is observed alone (state files, windows), when no specs can be used."""
    rows = []
    for name in sorted(observed.known_workers()):
        state = observed.states.get(name) or WorkerState(name)
        window = observed.window_of(name)
        alive = window is not None and not window.dead
        rows.append(
            {
                "name": name,
                "phase": state.phase if state.stage or alive else "Unknown",
                "stage": (window.stage if window else None) or state.stage,
                "stageIndex": -1,
                "stages": None,
                "attempt": (window.attempt if window else None) or state.attempt,
                "restarts": state.restarts,
                "restartsTotal": max(state.restarts, state.restarts_total),
                "lastActivity": None,
                "branch": state.branch or None,
                "worktree": state.worktree or None,
                "window": f"{window.session}:{window.window_index}" if window else None,
                "reason": state.reason + ("" if alive else " (no live window)"),
                "repo": state.repo or None,
                "workerSet": None,
                "pid": window.pane_pid if alive and window else None,
                "costUsd": _cost(state, observed.files.get(name)),
                "sessionId": _session(state, observed.files.get(name)),
                "pullRequest": state.pr_url or None,
            }
        )
    return person_first(rows)


def restarts_text(row: Mapping[str, Any]) -> str:
    """The restarts column: the current stage's, and the total when earlier stages had some.

    Examples
    --------
    >>> restarts_text({"restarts": 1, "restartsTotal": 1})
    '1'
    >>> restarts_text({"restarts": 0, "restartsTotal": 3})
    '0 (3 total)'
    """
    now, total = int(row.get("restarts") or 0), int(row.get("restartsTotal") or 0)
    return str(now) if total <= now else f"{now} ({total} total)"


def pending_teardowns(the_plan: Plan) -> list[dict[str, str]]:
    """Workers on their way out that this pass leaves alone (a retry is due later)."""
    acting = {a.worker for a in the_plan.actions}
    return [
        {"worker": s.name, "reason": s.reason}
        for s in the_plan.statuses.values()
        if s.phase is Phase.TERMINATING and s.name not in acting
    ]


def foreign_rows(observed: Observed) -> list[dict[str, Any]]:
    """Windows on orch's socket that are not this fleet's: listed, never touched."""
    return [
        {
            "window": f"{p.session}:{p.window_index}",
            "session": p.session,
            "name": p.window_name,
            "worker": p.worker,
            "fleet": p.fleet,
            "why": f"fleet {p.fleet}"
            if p.fleet and p.fleet != observed.fleet
            else ("made by hand" if not p.worker else "in another session"),
        }
        for p in observed.foreign()
    ]


def stage_text(row: Mapping[str, Any]) -> str:
    """The stage column: ``build (2/3)``, ``done (3/3)`` when Succeeded, else ``-``.

    Examples
    --------
    >>> stage_text({"stage": "build", "stageIndex": 1, "stages": 3, "phase": "Running"})
    'build (2/3)'
    >>> stage_text({"stage": None, "stageIndex": 3, "stages": 3, "phase": "Succeeded"})
    'done (3/3)'
    """
    index, total = int(row.get("stageIndex", -1)), row.get("stages")
    if row.get("phase") == "Succeeded":
        return f"done ({total}/{total})"
    if row.get("stage") and index >= 0:
        return f"{row['stage']} ({index + 1}/{total})"
    return str(row.get("stage") or "-")
