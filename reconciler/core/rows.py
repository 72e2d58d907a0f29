"""Fleet status as data: one row a worker, for `orch status`, reports and MCP (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.actions import Plan
from reconciler.core.duration import utc_iso
from reconciler.core.limits import worker_cost
from reconciler.core.model import Desired, WorkerState
from reconciler.core.observed import Observed, WorkerFiles


def status_rows(desired: Desired, observed: Observed, plan: Plan) -> list[dict[str, Any]]:
    """Rows with the keys name, phase, stage, attempt, restarts, lastActivity, branch,
    worktree, window, reason (and a few more); desired workers first, then removed ones."""
    rows = []
    for name, st in plan.statuses.items():
        worker = desired.workers.get(name)
        state = observed.states.get(name)
        window = observed.window_of(name)
        if state and state.worktree:
            worktree = state.worktree
        elif worker:
            worktree = str(desired.worktree_path(worker))
        else:
            worktree = None
        rows.append(
            {
                "name": name,
                "phase": st.phase.value,
                "stage": st.stage,
                "stageIndex": st.stage_index,
                "stages": st.stages,
                "attempt": st.attempt,
                "restarts": st.restarts,
                "lastActivity": utc_iso(st.last_activity),
                "branch": worker.branch if worker else (state.branch if state else None),
                "worktree": worktree,
                "window": f"{window.session}:{window.window_index}" if window else None,
                "reason": st.reason,
                "repo": worker.repo if worker else (state.repo if state else None),
                "workerSet": worker.worker_set if worker else None,
                "pid": window.pane_pid if window and not window.dead else None,
                "costUsd": _cost(state, observed.files.get(name)),
                "sessionId": _session(state, observed.files.get(name)),
                "pullRequest": state.pr_url if state and state.pr_url else None,
            }
        )
    return rows


def _cost(state: WorkerState | None, files: WorkerFiles | None) -> float | None:
    cost = worker_cost(state, files)
    return None if cost is None else round(cost, 4)


def _session(state: WorkerState | None, files: WorkerFiles | None) -> str | None:
    stream = files.stream if files else None
    hooks = files.hooks if files else None
    found = (stream and stream.session_id) or (hooks and hooks.session_id)
    return found or (state.session_id if state else None)


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
