"""The bytes the stub sends: server-sent events, error bodies and headers (pure).

An answer is the sequence of events the Messages API streams:
``message_start``, per content block ``content_block_start`` /
``content_block_delta`` / ``content_block_stop``, ``message_delta`` (stop
reason and usage), ``message_stop``. Every event's data carries ``"type"``
equal to the event's name; block events carry ``"index"``.

>>> from reconciler.stubapi.steps import text
>>> events = message_events(text("hi"), msg_id="msg_1", model="m", tool_ids=[])
>>> [name for name, _ in events]  # doctest: +NORMALIZE_WHITESPACE
['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop',
 'message_delta', 'message_stop']
>>> all(data["type"] == name for name, data in events)
True
>>> sse("ping", {"type": "ping"})
b'event: ping\\ndata: {"type": "ping"}\\n\\n'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.stubapi.steps import ERROR_TYPES, Kind, Step

Event = tuple[str, dict[str, Any]]


def sse(name: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event: an ``event:`` line, a ``data:`` line, a blank line."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def content_blocks(step: Step, tool_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The step's content blocks as the complete message holds them (text, then tool_use).

    >>> from reconciler.stubapi.steps import bash
    >>> [b["type"] for b in content_blocks(bash("ls", text="Looking."), ["toolu_1"])]
    ['text', 'tool_use']
    """
    blocks: list[dict[str, Any]] = []
    if step.text:
        blocks.append({"type": "text", "text": step.text})
    for call, tool_id in zip(step.calls, tool_ids, strict=True):
        blocks.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": call.input})
    return blocks


def message_start(step: Step, *, msg_id: str, model: str) -> Event:
    """The ``message_start`` event: an empty assistant message with input usage."""
    usage = {
        "input_tokens": step.input_tokens,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return ("message_start", {"type": "message_start", "message": message})


def message_events(step: Step, *, msg_id: str, model: str, tool_ids: Sequence[str]) -> list[Event]:
    """Every event of a ``text`` or ``tool`` step's answer, in order.

    A tool call's input is streamed as ``input_json_delta`` with the input as
    JSON text, in two pieces (clients must join the partial JSON):

    >>> from reconciler.stubapi.steps import bash
    >>> events = message_events(bash("ls"), msg_id="m", model="m", tool_ids=["toolu_1"])
    >>> deltas = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    >>> json.loads("".join(deltas))
    {'command': 'ls', 'description': 'ls'}
    >>> events[-2][1]["delta"]["stop_reason"]
    'tool_use'
    """
    events = [message_start(step, msg_id=msg_id, model=model)]
    for index, block in enumerate(content_blocks(step, tool_ids)):
        start: dict[str, Any]
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": block["text"]}]
        else:
            start = {**block, "input": {}}
            raw = json.dumps(block["input"])
            half = len(raw) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in (raw[:half], raw[half:])
            ]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": step.stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": step.output_tokens},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def message_json(step: Step, *, msg_id: str, model: str, tool_ids: Sequence[str]) -> dict[str, Any]:
    """The whole message as one JSON object, for a request with ``stream: false``."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_blocks(step, tool_ids),
        "stop_reason": step.stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": step.input_tokens, "output_tokens": step.output_tokens},
    }


def error_body(step: Step, request_id: str) -> dict[str, Any]:
    """The API's error body for an ``error`` step.

    >>> from reconciler.stubapi.steps import error
    >>> error_body(error(529), "req_1")["error"]
    {'type': 'overloaded_error', 'message': 'Overloaded'}
    """
    assert step.kind is Kind.ERROR
    kind, default = ERROR_TYPES.get(step.status, ("api_error", f"HTTP {step.status}"))
    return {
        "type": "error",
        "error": {"type": kind, "message": step.message or default},
        "request_id": request_id,
    }


RATE_LIMIT_RESET_SECONDS = 3600


def error_headers(step: Step, request_id: str, now: float) -> dict[str, str]:
    """The headers of an error answer; a 429 gets the API's rate-limit headers.

    The unified reset is epoch seconds, ``retry-after`` is seconds from now;
    ``step.headers`` adds to or overrides them, and an empty value drops one
    (a 429 without the unified headers is the API's plain per-minute limit).

    >>> from reconciler.stubapi.steps import error
    >>> h = error_headers(error(429), "req_1", now=1000.0)
    >>> h["anthropic-ratelimit-unified-status"], h["anthropic-ratelimit-unified-reset"]
    ('rejected', '4600')
    >>> h["retry-after"]
    '3600'
    >>> plain = error(429, headers={"anthropic-ratelimit-unified-status": ""})
    >>> "anthropic-ratelimit-unified-status" in error_headers(plain, "req_1", now=0)
    False
    """
    headers = {"request-id": request_id}
    if step.status == 429:
        reset = int(now) + RATE_LIMIT_RESET_SECONDS
        headers |= {
            "retry-after": str(RATE_LIMIT_RESET_SECONDS),
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(reset),
            "anthropic-ratelimit-unified-representative-claim": "five_hour",
            "anthropic-ratelimit-unified-5h-status": "rejected",
            "anthropic-ratelimit-unified-5h-reset": str(reset),
            "anthropic-ratelimit-unified-fallback": "unavailable",
            "anthropic-ratelimit-unified-overage-status": "rejected",
        }
    return {name: value for name, value in (headers | dict(step.headers)).items() if value}
