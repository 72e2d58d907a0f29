"""A worker's attempts from its events and state: start, end, outcome, reason (pure).

Events (state/events.jsonl) are the history: each successful ``start-agent``
opens an attempt (its stage and number); what follows for that worker ends
it: a stop, a stage completed, a phase Backoff, Failed or Succeeded, a
teardown, or the next start. The state file says how the last one stands now.

Outcomes: ``running``, ``done`` (its stage completed), ``succeeded`` (the last
stage), ``failed`` (a crash, stall, timeout or give-up: the reason says which),
``stopped`` (orch stopped it), ``restarted`` (a new attempt of the same stage
replaced it), ``removed`` (torn down).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.core.duration import utc_iso
from reconciler.core.model import WorkerState

_TEARDOWN = ("remove-worktree", "kill-window", "forget")
_REFINE = ("stopped", "restarted")  # a stop's outcome is refined by what the stop was for


def attempts(
    events: Iterable[Mapping[str, Any]], state: WorkerState | None = None
) -> list[dict[str, Any]]:
    """Every attempt of one worker, oldest first, from its events (in order) and state.

    Examples
    --------
    >>> evs = [
    ...     {"verb": "start-agent", "stage": "plan", "attempt": 1, "time": "T1", "reason": "new"},
    ...     {"verb": "phase Backoff", "time": "T2", "reason": "crashed: exit 3"},
    ...     {"verb": "start-agent", "stage": "plan", "attempt": 2, "time": "T3", "reason": "r1"},
    ...     {"verb": "start-agent", "stage": "build", "attempt": 1, "time": "T4", "reason": "next"},
    ... ]
    >>> [(a["stage"], a["attempt"], a["outcome"], a["end"]) for a in attempts(evs)]
    [('plan', 1, 'failed', 'T2'), ('plan', 2, 'done', 'T4'), ('build', 1, 'running', None)]
    """
    out: list[dict[str, Any]] = []
    for e in events:
        verb, at, why = str(e.get("verb", "")), e.get("time"), str(e.get("reason", ""))
        last = out[-1] if out else None
        if verb == "start-agent":
            if not e.get("ok", True) or not e.get("stage"):
                continue
            if last is not None and last["end"] is None:
                _end(last, at, "restarted" if last["stage"] == e["stage"] else "done", why)
            elif last is not None and last["stage"] != e["stage"] and last["outcome"] in _REFINE:
                last["outcome"] = "done"  # the stop was the stage's end: its reason stays
            out.append({"stage": e["stage"], "attempt": int(e.get("attempt") or 0),
                        "start": at, "startReason": why, "end": None, "outcome": "running",
                        "reason": ""})  # fmt: skip
        elif last is None:
            continue
        elif verb == "stop-agent" and e.get("ok", True):
            _end(last, at, "stopped", why)
        elif verb == "complete-stage":
            _end(last, at, "done", why, refine=True)
        elif verb.startswith("phase "):
            phase = verb.removeprefix("phase ")
            outcome = {"Succeeded": "succeeded", "Failed": "failed", "Backoff": "failed"}.get(phase)
            if outcome:
                _end(last, at, outcome, why, refine=True)
        elif verb in _TEARDOWN:
            _end(last, at, "removed", why, refine=True)
    if out and state is not None:
        _current(out[-1], state)
    return out


def _end(
    attempt: dict[str, Any], at: object, outcome: str, reason: str, refine: bool = False
) -> None:
    """End ``attempt`` (once); ``refine`` also rewrites the outcome of a mere stop."""
    if attempt["end"] is None:
        attempt.update(end=at, outcome=outcome, reason=reason)
    elif refine and attempt["outcome"] in _REFINE:
        attempt.update(outcome=outcome, reason=reason)


def _current(attempt: dict[str, Any], state: WorkerState) -> None:
    """The state file's word on the last attempt, when it is the one the state holds."""
    if (attempt["stage"], attempt["attempt"]) != (state.stage, state.attempt):
        return
    if attempt["end"] is None and state.phase in ("Backoff", "Failed"):
        attempt.update(outcome="failed", reason=state.reason,
                       end=utc_iso(state.finished_at) if state.finished_at else None)  # fmt: skip
    elif attempt["end"] is None:
        attempt["reason"] = state.reason
