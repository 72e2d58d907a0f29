"""A scripted stub of the Anthropic Messages API, for running the real agent CLI offline.

Dependency-free (stdlib ``http.server`` and threads); it imports nothing else
of orch. Tests and ``orch demo`` point Claude Code at it with
``ANTHROPIC_BASE_URL`` and script what "the model" answers, step by step:

>>> from reconciler.stubapi import StubAPI, bash, text
>>> with StubAPI({
...     "Worker w1,": [bash("echo hi > a.txt && git add a.txt && git commit -qm a"), text("done")],
...     "Worker w2,": [text("nothing to do")],
... }) as stub:
...     stub.url.startswith("http://127.0.0.1:")
True

Each ``POST /v1/messages`` goes to the first lane whose marker is in the
request body (here the worker's name in its prompt, which every later request
of the conversation repeats) and consumes that lane's next step. Every request
is recorded (``stub.requests``, ``stub.message_requests``): a test reads the
exact prompt the agent sent with ``request.last_user_text()``.

Step kinds: :func:`text` (end_turn), :func:`bash` and :func:`tool` (tool_use),
:func:`error` (500, 529, 429 with rate-limit headers...), :func:`hang` (no
answer), :func:`slow` (a step answered late). ``python -m reconciler.stubapi
--port P --script file.json`` serves a JSON script (see :meth:`Script.from_json`).
"""

from reconciler.stubapi.records import RecordedRequest
from reconciler.stubapi.server import StubAPI
from reconciler.stubapi.steps import (
    Kind,
    Lane,
    Script,
    ScriptError,
    ScriptLike,
    Step,
    ToolCall,
    bash,
    error,
    hang,
    slow,
    text,
    tool,
    with_headers,
)

__all__ = [
    "Kind",
    "Lane",
    "RecordedRequest",
    "Script",
    "ScriptError",
    "ScriptLike",
    "Step",
    "StubAPI",
    "ToolCall",
    "bash",
    "error",
    "hang",
    "slow",
    "text",
    "tool",
    "with_headers",
]
