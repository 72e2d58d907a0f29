"""What the stub received: one :class:`RecordedRequest` per HTTP request.

A test reads the exact prompt the agent sent (``last_user_text()``), the
tools it offered, its API key, and which lane and step answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reconciler.stubapi.steps import Step

MESSAGES_PATH = "/v1/messages"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stub received, as it arrived, with what the stub answered.

    ``headers`` have lower-case names; ``body`` is the parsed JSON (``None`` when
    the body is empty or not JSON); ``lane`` is the label of the lane that
    answered a messages request (``None`` for other paths and unmatched
    requests) and ``step`` the step it served.
    """

    seq: int
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: Any
    raw: bytes
    lane: str | None
    step: Step | None
    at: float

    @property
    def is_messages(self) -> bool:
        """Whether this is a ``POST /v1/messages`` (one step of the agent)."""
        return self.method == "POST" and self.path == MESSAGES_PATH

    @property
    def api_key(self) -> str | None:
        """The ``x-api-key`` header, else the bearer token of ``authorization``."""
        return api_key_of(self.headers)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation the agent sent (``body["messages"]``), or ``[]``."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools the agent offered the model."""
        tools = self.body.get("tools") if isinstance(self.body, dict) else None
        return [t.get("name", "") for t in tools or [] if isinstance(t, dict)]

    def last_user_text(self) -> str:
        """The text of the last user message: its text blocks and tool results, joined.

        This is what the agent was last told: the prompt on a first request, a
        tool's output after a tool call, ``Stop hook feedback:...`` after a
        blocking Stop hook, a new prompt on ``--resume``.
        """
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _flatten(message.get("content"))
        return ""

    def text(self) -> str:
        """The whole raw body as text (for substring checks anywhere in the request)."""
        return self.raw.decode("utf-8", "replace")

    def to_json(self) -> dict[str, Any]:
        """The request as one JSON-ready object (the ``--record`` file's lines)."""
        out = asdict(self)
        out["raw"] = None
        out["step"] = self.step.to_json() if self.step else None
        out["headers"] = dict(self.headers)
        return out


def _flatten(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            parts.append(_flatten(block.get("content")))
    return "\n".join(parts)


def api_key_of(headers: Mapping[str, str]) -> str | None:
    """The ``x-api-key`` header, else the bearer token of ``authorization``."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The requests a ``record`` file holds, one JSON object each."""
    with path.open() as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)
