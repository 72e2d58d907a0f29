"""Claude Code's hooks as precise signals: what ``.orch/hooks.jsonl`` says (pure).

`orch hook EVENT` (the command orch puts in the agent's settings) appends one
JSON line per hook: the event as Claude Code gave it on stdin, plus ``event``,
``ts``, ``stage`` and ``attempt`` (from the agent's environment). Folded line
by line into a plain dict, these give: the last sign of life, a tool call still
open (a long build is not a hang), the session id, a StopFailure's error
(``rate_limit``, ``server_error``, ...), a question waiting for a person, and
how often the Stop hook sent the agent back to its stage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

HOOK_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",  # a tool that failed (e.g. Bash exit 3) gets this, not PostToolUse
    "Stop",
    "StopFailure",
    "Notification",
    "PermissionRequest",
    "Elicitation",
    "SessionEnd",
)
# An interactive claude asking a person: PermissionRequest (the tool) comes first,
# then a Notification "Claude needs your permission" (notification_type
# permission_prompt); an MCP server's question is an Elicitation. Other
# notifications (idle_prompt: waiting for the next prompt) ask nothing.
_INPUT = ("PermissionRequest", "Elicitation")
_ASKING_NOTIFICATIONS = ("permission_prompt", "elicitation_dialog")
_ANSWERED = ("PreToolUse", "UserPromptSubmit", "PostToolUse", "PostToolUseFailure")


@dataclass(frozen=True)
class HookFacts:
    """What the hooks of one attempt said so far."""

    last: float | None = None  # time of the last hook: a sign of life
    open_tool: str | None = None  # a tool call started and not finished
    open_since: float | None = None
    session_id: str | None = None
    failure: str | None = None  # StopFailure's error type, e.g. "rate_limit"
    failure_text: str = ""
    needs_input: str | None = None  # what the agent waits for a person about
    nudges: int = 0  # Stop hooks that sent it back to finish its stage
    prompted: bool = False  # a prompt reached the agent (UserPromptSubmit): past start-up


def _key(stage: str | None, attempt: int | None) -> str:
    return f"{stage}#{attempt}"


def fold(facts: dict[str, Any], lines: Iterable[str], stage: str, attempt: int) -> dict[str, Any]:
    """``facts`` updated with hook lines of ``stage``'s ``attempt`` (others are skipped).

    Examples
    --------
    >>> lines = ['{"event":"PreToolUse","ts":5,"stage":"s","attempt":1,"tool_name":"Bash"}']
    >>> f = facts_of(fold({}, lines, "s", 1))
    >>> f.open_tool, f.open_since, f.last
    ('Bash', 5, 5)
    """
    for line in lines:
        try:
            hook = json.loads(line)
        except ValueError:
            continue
        if not isinstance(hook, dict) or _key(hook.get("stage"), hook.get("attempt")) != _key(
            stage, attempt
        ):
            continue
        _one(facts, hook)
    return facts


def _one(facts: dict[str, Any], hook: Mapping[str, Any]) -> None:
    event, ts = hook.get("event"), hook.get("ts")
    if isinstance(ts, int | float):
        facts["last"] = ts
    if isinstance(hook.get("session_id"), str):
        facts["session_id"] = hook["session_id"]
    if event == "PreToolUse":
        facts["open_tool"] = str(hook.get("tool_name") or "a tool")
        facts["open_since"] = ts
    elif event in ("PostToolUse", "PostToolUseFailure", "Stop", "StopFailure", "SessionEnd"):
        facts["open_tool"] = facts["open_since"] = None
    if event == "StopFailure":
        facts["failure"] = str(hook.get("error") or "unknown")
        facts["failure_text"] = str(hook.get("last_assistant_message") or "")[-500:]
    if event in _INPUT:
        facts["needs_input"] = _question(hook)
    elif event == "Notification" and _asks(hook):
        facts["needs_input"] = facts.get("needs_input") or _question(hook)
    elif event in _ANSWERED:
        facts["needs_input"] = None
    if event == "UserPromptSubmit":
        facts["prompted"] = True
    if event == "Stop" and hook.get("nudged"):
        facts["nudges"] = int(facts.get("nudges", 0)) + 1


def _asks(hook: Mapping[str, Any]) -> bool:
    kind = hook.get("notification_type")
    message = str(hook.get("message"))
    return kind in _ASKING_NOTIFICATIONS or (kind is None and "permission" in message)


def _question(hook: Mapping[str, Any]) -> str:
    """What the agent waits for: the tool it asks to use, else the question."""
    tool = hook.get("tool_name")
    if tool:
        return f"permission to use {tool}"[:300]
    return str(hook.get("message") or hook.get("event"))[:300]


def facts_of(data: Mapping[str, Any]) -> HookFacts:
    """The facts a folded dict holds."""
    known = HookFacts.__dataclass_fields__
    return HookFacts(**{k: v for k, v in data.items() if k in known})


def settings(command: list[str]) -> dict[str, Any]:
    """Claude Code settings whose hooks run ``command + [EVENT]`` for every event orch reads.

    Examples
    --------
    >>> s = settings(["/venv/bin/python", "-m", "reconciler", "hook"])
    >>> s["hooks"]["Stop"][0]["hooks"][0]["command"]
    '/venv/bin/python -m reconciler hook Stop'
    """
    import shlex

    def entry(event: str) -> dict[str, Any]:
        hook = {"type": "command", "command": shlex.join([*command, event]), "timeout": 10}
        return {"matcher": "*", "hooks": [hook]} if "Tool" in event else {"hooks": [hook]}

    return {"hooks": {event: [entry(event)] for event in HOOK_EVENTS}}
