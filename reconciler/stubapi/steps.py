"""What the stub answers: steps, lanes of steps, and the script that holds them.

A *step* is one answer to one ``POST /v1/messages``: assistant text that ends
the turn, a tool call (``Bash`` or any other tool), an HTTP error, or silence.
A *lane* is an ordered list of steps with a matcher (a marker found in the
request body, or an API key); a *script* is the lanes in order. Each request
goes to the first lane that matches it and consumes that lane's next step;
once a lane's steps are used up it answers its ``then`` step every time.

Scripts can be written in Python with the constructors below, or as JSON (the
``--script`` file of ``python -m reconciler.stubapi``):

>>> script = Script.from_json({"lanes": [
...     {"marker": "Worker w1,", "steps": [{"kind": "bash", "command": "touch a"},
...                                        {"kind": "text", "text": "done"}]},
...     {"marker": "Worker w2,", "steps": [{"kind": "error", "status": 529}]},
... ]})
>>> [lane.marker for lane in script.lanes]
['Worker w1,', 'Worker w2,']
>>> script.lanes[0].steps[0].calls[0].input["command"]
'touch a'
>>> Script.from_json(script.to_json()) == script
True
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


class ScriptError(ValueError):
    """A script (JSON or Python) that the stub cannot serve; the message names the problem."""


class Kind(enum.StrEnum):
    """What a step answers."""

    TEXT = "text"  # assistant text, stop_reason end_turn
    TOOL = "tool"  # tool_use blocks (Bash or any tool), stop_reason tool_use
    ERROR = "error"  # an HTTP error status with the API's JSON error body
    HANG = "hang"  # accept the request and never answer (or drop it after N seconds)


@dataclass(frozen=True)
class ToolCall:
    """One ``tool_use`` block: the tool's name and its input object."""

    name: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    """One scripted answer. Build it with :func:`text`, :func:`bash`, :func:`tool`,
    :func:`error`, :func:`hang` and :func:`slow` rather than by hand.

    ``delay`` holds the answer back that many seconds (a slow API); ``headers``
    are added to the response (e.g. ``anthropic-ratelimit-unified-*``). For ``HANG``,
    ``seconds`` is how long to hold the request before dropping the connection
    (``None``: until the stub stops) and ``mid_stream`` sends the response head
    and ``message_start`` first, so the silence falls inside the stream.
    """

    kind: Kind
    text: str = ""
    calls: tuple[ToolCall, ...] = ()
    status: int = 0
    message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float | None = None
    mid_stream: bool = False
    delay: float = 0.0
    input_tokens: int = 1000
    output_tokens: int = 50

    @property
    def stop_reason(self) -> str:
        """``tool_use`` for a tool step, ``end_turn`` otherwise."""
        return "tool_use" if self.kind is Kind.TOOL else "end_turn"

    def to_json(self) -> dict[str, Any]:
        """The step as the JSON object :meth:`from_json` reads."""
        out: dict[str, Any] = {"kind": self.kind.value}
        if self.text:
            out["text"] = self.text
        if self.kind is Kind.TOOL:
            out["calls"] = [{"name": c.name, "input": dict(c.input)} for c in self.calls]
        if self.kind is Kind.ERROR:
            out["status"] = self.status
            if self.message:
                out["message"] = self.message
        if self.headers:
            out["headers"] = dict(self.headers)
        if self.kind is Kind.HANG:
            out["seconds"] = self.seconds
            out["mid_stream"] = self.mid_stream
        if self.delay:
            out["delay"] = self.delay
        if (self.input_tokens, self.output_tokens) != (1000, 50):
            out["usage"] = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        return out

    @classmethod
    def from_json(cls, data: Any) -> Step:
        """A step from JSON. Kinds: ``text`` (``text``), ``bash`` (``command``,
        ``description``, ``text``), ``tool`` (``name`` + ``input``, or ``calls``),
        ``error`` (``status``, ``message``, ``headers``), ``hang`` (``seconds``,
        ``mid_stream``), ``slow`` (``seconds``, ``step``); any step may carry
        ``delay``, ``headers`` (extra response headers) and ``usage``
        (``input_tokens``, ``output_tokens``).
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("kind"), str):
            msg = f"a step must be an object with a string 'kind', not {data!r}"
            raise ScriptError(msg)
        kind = data["kind"]
        try:
            step = _from_json(kind, data)
        except (KeyError, TypeError, ValueError) as err:
            msg = f"step {json.dumps(data)}: {err}"
            raise ScriptError(msg) from err
        usage = data.get("usage") or {}
        return replace(
            step,
            headers={**step.headers, **dict(data.get("headers") or {})},
            delay=float(data.get("delay", step.delay)),
            input_tokens=int(usage.get("input_tokens", step.input_tokens)),
            output_tokens=int(usage.get("output_tokens", step.output_tokens)),
        )


def _from_json(kind: str, data: Mapping[str, Any]) -> Step:
    if kind == "text":
        return text(str(data["text"]))
    if kind == "bash":
        return bash(
            str(data["command"]), str(data.get("description", "")), text=str(data.get("text", ""))
        )
    if kind == "tool":
        calls = data.get("calls") or [{"name": data["name"], "input": data.get("input", {})}]
        step = tool(calls[0]["name"], calls[0].get("input", {}), text=str(data.get("text", "")))
        return replace(
            step, calls=tuple(ToolCall(c["name"], dict(c.get("input", {}))) for c in calls)
        )
    if kind == "error":
        return error(int(data["status"]), str(data.get("message", "")), data.get("headers"))
    if kind == "hang":
        seconds = data.get("seconds")
        return hang(None if seconds is None else float(seconds), bool(data.get("mid_stream")))
    if kind == "slow":
        return slow(float(data["seconds"]), Step.from_json(data["step"]))
    msg = f"unknown step kind {kind!r} (text, bash, tool, error, hang, slow)"
    raise ScriptError(msg)


def text(content: str) -> Step:
    """Assistant text that ends the turn (``stop_reason: end_turn``).

    >>> text("done").stop_reason
    'end_turn'
    """
    return Step(Kind.TEXT, text=content)


def bash(command: str, description: str = "", *, text: str = "") -> Step:
    """A ``Bash`` tool call (``stop_reason: tool_use``), after optional assistant ``text``.

    >>> bash("git status").calls
    (ToolCall(name='Bash', input={'command': 'git status', 'description': 'git status'}),)
    """
    return tool("Bash", {"command": command, "description": description or command}, text=text)


def tool(name: str, input: Mapping[str, Any], *, text: str = "") -> Step:  # noqa: A002
    """A call of any tool (``Edit``, ``Write``, an MCP tool...) with the given input."""
    if not name:
        raise ScriptError("a tool step needs a tool name")
    return Step(Kind.TOOL, text=text, calls=(ToolCall(name, dict(input)),))


# The API's error type and message for each status it uses.
ERROR_TYPES = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource"),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes"),
    429: ("rate_limit_error", "This request would exceed your account's rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def error(status: int, message: str = "", headers: Mapping[str, str] | None = None) -> Step:
    """An HTTP error with the API's JSON body ``{"type": "error", "error": {...}}``.

    A 429 also carries rate-limit headers (``retry-after`` and
    ``anthropic-ratelimit-unified-status: rejected`` with a reset time); pass
    ``headers`` to add to or override them (see :mod:`reconciler.stubapi.wire`).
    """
    if not 400 <= status <= 599:
        msg = f"an error step needs an HTTP status 400-599, not {status}"
        raise ScriptError(msg)
    return Step(Kind.ERROR, status=status, message=message, headers=dict(headers or {}))


def hang(seconds: float | None = None, mid_stream: bool = False) -> Step:
    """Accept the request and answer nothing: until the stub stops (``seconds=None``)
    or for ``seconds``, then drop the connection. ``mid_stream`` first sends the
    200 head and ``message_start``, so the silence falls inside the stream.
    """
    return Step(Kind.HANG, seconds=seconds, mid_stream=mid_stream)


def slow(seconds: float, step: Step) -> Step:
    """``step``, answered after ``seconds``.

    >>> slow(2, text("late")).delay
    2.0
    """
    return replace(step, delay=float(seconds))


def with_headers(step: Step, headers: Mapping[str, str]) -> Step:
    """``step`` with extra response headers, e.g. a 200 answer that carries
    ``anthropic-ratelimit-unified-status: allowed_warning``.

    >>> with_headers(text("hi"), {"x-a": "1"}).headers
    {'x-a': '1'}
    """
    return replace(step, headers={**step.headers, **headers})


DEFAULT_THEN = text("(stub: script exhausted)")


@dataclass(frozen=True)
class Lane:
    """Steps served in order to the requests this lane matches.

    ``marker``: a substring of the raw request body (e.g. the worker name orch
    puts in the prompt; every later request of that conversation repeats it).
    ``api_key``: the request's ``x-api-key`` (or bearer token) must equal it.
    A lane with neither matches every request. ``then`` answers once ``steps``
    are used up (by default a text that ends the turn).
    """

    steps: tuple[Step, ...]
    marker: str | None = None
    api_key: str | None = None
    then: Step = DEFAULT_THEN
    name: str = ""

    @property
    def label(self) -> str:
        """The lane's name, else its marker or key, else ``*``."""
        return self.name or self.marker or self.api_key or "*"

    def matches(self, body: bytes, api_key: str | None) -> bool:
        """Whether a request with this raw body and key belongs to this lane."""
        if self.api_key is not None and api_key != self.api_key:
            return False
        return self.marker is None or self.marker.encode() in body


@dataclass(frozen=True)
class Script:
    """The lanes of a stub, tried in order for each request."""

    lanes: tuple[Lane, ...]

    @classmethod
    def of(cls, script: ScriptLike) -> Script:
        """A script from any accepted form: a :class:`Script`, one :class:`Lane`, a
        list of lanes, a list of steps (one lane for every request; ``[]``: every
        request gets the default ``then``, a text that ends the turn), or a
        mapping of marker to steps (one lane per marker, in the mapping's order).

        >>> Script.of({"w1": [text("a")], "w2": [text("b")]}).lanes[1].marker
        'w2'
        """
        if isinstance(script, Script):
            return script
        if isinstance(script, Lane):
            return cls((script,))
        if isinstance(script, Mapping):
            return cls(tuple(Lane(tuple(steps), marker=key) for key, steps in script.items()))
        items = list(script)
        if all(isinstance(item, Step) for item in items):  # [] too: one lane, no steps
            return cls((Lane(tuple(item for item in items if isinstance(item, Step))),))
        if all(isinstance(item, Lane) for item in items):
            return cls(tuple(item for item in items if isinstance(item, Lane)))
        raise ScriptError("a script is a list of steps, a list of lanes, or {marker: steps}")

    def to_json(self) -> dict[str, Any]:
        """The script as the JSON object :meth:`from_json` reads."""
        return {"lanes": [_lane_json(lane) for lane in self.lanes]}

    @classmethod
    def from_json(cls, data: Any) -> Script:
        """A script from JSON: ``{"lanes": [{"marker"?, "api_key"?, "name"?, "steps": [...],
        "then"?: step}]}``, or a bare list of steps (one lane for every request)."""
        if isinstance(data, list):
            data = {"lanes": [{"steps": data}]}
        if not isinstance(data, Mapping) or not isinstance(data.get("lanes"), list):
            raise ScriptError("a script is {'lanes': [...]} or a list of steps")
        lanes = []
        for raw in data["lanes"]:
            if not isinstance(raw, Mapping) or not isinstance(raw.get("steps", []), list):
                msg = f"a lane is an object with a list of 'steps', not {raw!r}"
                raise ScriptError(msg)
            then = raw.get("then")
            lanes.append(
                Lane(
                    tuple(Step.from_json(s) for s in raw.get("steps", [])),
                    marker=raw.get("marker"),
                    api_key=raw.get("api_key"),
                    then=DEFAULT_THEN if then is None else Step.from_json(then),
                    name=str(raw.get("name", "")),
                )
            )
        return cls(tuple(lanes))

    @classmethod
    def load(cls, path: Path) -> Script:
        """A script from a JSON file; :class:`ScriptError` names the file when it is wrong."""
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, ScriptError) as err:
            msg = f"{path}: {err}"
            raise ScriptError(msg) from err


def _lane_json(lane: Lane) -> dict[str, Any]:
    out: dict[str, Any] = {"steps": [s.to_json() for s in lane.steps]}
    for key in ("marker", "api_key"):
        if getattr(lane, key) is not None:
            out[key] = getattr(lane, key)
    if lane.name:
        out["name"] = lane.name
    if lane.then != DEFAULT_THEN:
        out["then"] = lane.then.to_json()
    return out


ScriptLike = Script | Lane | Sequence[Step] | Sequence[Lane] | Mapping[str, Sequence[Step]]
