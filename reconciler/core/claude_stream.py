"""Claude Code's stream-json output, read as it grows: facts about one attempt (pure).

``claude -p --output-format stream-json --verbose`` prints one JSON object a
line: ``system/init`` (the session id), ``assistant`` and ``user`` messages,
``system/api_retry`` while the API fails, and a last ``result`` line with
``num_turns``, ``total_cost_usd``, ``is_error`` and, for an API error,
``api_error_status``. Note that ``is_error`` can be true with ``subtype``
"success": read ``is_error``. Facts are folded line by line into a plain
dict, so a caller can keep them between passes and read only new output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_LIMIT_TEXT = re.compile(
    r"usage limit|session limit|rate limit|limit reached|\b429\b", re.IGNORECASE
)
_TEXT_CAP = 2000  # characters of the last assistant text kept


@dataclass(frozen=True)
class StreamFacts:
    """What one attempt's stream-json said so far."""

    session_id: str | None = None
    turns: int | None = None
    tool_calls: int = 0
    last_text: str = ""
    cost_usd: float | None = None
    ended: bool = False  # a result line came: the run ended its turn
    is_error: bool = False
    error: str = ""
    api_status: int | None = None
    rate_limited: bool = False
    resets_at: float | None = None  # when the account's limit lifts, if the CLI said
    budget_hit: bool = False  # --max-budget-usd stopped the run


def _json(line: str) -> dict[str, Any] | None:
    start = line.find("{")
    if start < 0:
        return None
    try:
        data = json.loads(line[start:])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _assistant(facts: dict[str, Any], event: Mapping[str, Any]) -> None:
    message = event.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_use":
            facts["tool_calls"] = int(facts.get("tool_calls", 0)) + 1
        elif block.get("type") == "text" and isinstance(block.get("text"), str):
            facts["last_text"] = block["text"][-_TEXT_CAP:]


def _result(facts: dict[str, Any], event: Mapping[str, Any]) -> None:
    facts["ended"] = True
    facts["is_error"] = bool(event.get("is_error"))
    for key, field in (("turns", "num_turns"), ("cost_usd", "total_cost_usd")):
        if isinstance(event.get(field), int | float):
            facts[key] = event[field]
    if isinstance(event.get("api_error_status"), int):
        facts["api_status"] = event["api_error_status"]
    if event.get("subtype") == "error_max_budget_usd":
        facts["budget_hit"] = True
    if facts["is_error"]:
        errors = event.get("errors")
        listed = "; ".join(map(str, errors)) if isinstance(errors, list) else ""
        text = event.get("result") if isinstance(event.get("result"), str) else listed
        facts["error"] = (text or facts.get("last_text") or str(event.get("subtype", "error")))[
            -_TEXT_CAP:
        ]
        limited = facts.get("api_status") == 429 or bool(_LIMIT_TEXT.search(facts["error"]))
        facts["rate_limited"] = bool(facts.get("rate_limited")) or limited


def _rate_limit_event(facts: dict[str, Any], event: Mapping[str, Any]) -> None:
    info = event.get("rate_limit_info")
    info = info if isinstance(info, dict) else event
    if str(info.get("status", "")) not in ("rejected", "blocked"):
        return  # allowed, allowed_warning: resetsAt is the window's end, not a limit that holds
    facts["rate_limited"] = True
    resets = info.get("resetsAt")
    if isinstance(resets, int | float):
        facts["resets_at"] = float(resets)


def fold(facts: dict[str, Any], lines: Iterable[str]) -> dict[str, Any]:
    """``facts`` updated with ``lines`` of stream-json (other lines are ignored).

    Examples
    --------
    >>> f = fold({}, ['{"type":"system","subtype":"init","session_id":"s1"}',
    ...               '{"type":"result","subtype":"success","is_error":false,'
    ...               '"num_turns":3,"total_cost_usd":0.02,"session_id":"s1"}'])
    >>> facts_of(f).session_id, facts_of(f).cost_usd, facts_of(f).ended
    ('s1', 0.02, True)
    >>> bad = fold({}, ['{"type":"result","subtype":"success","is_error":true,'
    ...                 '"api_error_status":429,"result":"API Error: Request rejected (429)"}'])
    >>> facts_of(bad).rate_limited, facts_of(bad).error
    (True, 'API Error: Request rejected (429)')
    """
    for line in lines:
        event = _json(line)
        if event is None:
            continue
        kind = event.get("type")
        if isinstance(event.get("session_id"), str) and kind in ("system", "result"):
            facts["session_id"] = facts.get("session_id") or event["session_id"]
        if kind == "assistant":
            _assistant(facts, event)
        elif kind == "result":
            _result(facts, event)
        elif kind == "rate_limit_event" or event.get("subtype") == "rate_limit":
            _rate_limit_event(facts, event)
    return facts


def facts_of(data: Mapping[str, Any]) -> StreamFacts:
    """The facts a folded dict holds (unknown keys ignored)."""
    known = StreamFacts.__dataclass_fields__
    return StreamFacts(**{k: v for k, v in data.items() if k in known})
