"""A person in the loop: a worker that waits for one (NeedsInput), or that one drives (pure).

NeedsInput: a hook said the agent asks (a permission, an MCP question), or
an interactive agent's screen shows a first-run question before any prompt
reached it. It is never a stall, never timed out, never restarted; the next
PreToolUse or UserPromptSubmit (the agent going on) ends it.

TakenOver: `orch takeover` marked the worker's state; the planner neither
starts, stops, judges nor tears it down until `orch release`.
"""

from __future__ import annotations

from reconciler.core.actions import Phase
from reconciler.core.claude_config import unexpected_screen
from reconciler.core.worker_view import WorkerResult, WorkerView

ANSWERED = "answered; running"


def taken_over_reason(name: str) -> str:
    """What a taken-over worker's status says."""
    return f"taken over by a person; `orch release {name}` hands it back"


def waiting_for(v: WorkerView, interactive: bool) -> str | None:
    """What the agent asks a person, if anything: a hook's question, else a screen.

    The screen is read only for an interactive agent that has had no prompt
    yet (a first-run question orch did not pre-answer stops it there).
    """
    hook = v.files.hooks
    if hook and hook.needs_input:
        return hook.needs_input
    if interactive and v.files.screen:
        return unexpected_screen(v.files.screen)
    return None


def needs_person(v: WorkerView, interactive: bool) -> WorkerResult | None:
    """NeedsInput while the agent asks; Running (noted once) when it was answered."""
    asking = waiting_for(v, interactive)
    if asking:
        reason = f"waits for a person: {asking} (orch send {v.w.name} TEXT, or attach)"
        return WorkerResult(tuple(v.set_phase(Phase.NEEDS_INPUT, reason)),
                            v.status(Phase.NEEDS_INPUT, reason))  # fmt: skip
    if v.s and v.s.phase == Phase.NEEDS_INPUT.value:
        return WorkerResult(tuple(v.set_phase(Phase.RUNNING, ANSWERED)),
                            v.status(Phase.RUNNING, ANSWERED))  # fmt: skip
    return None
