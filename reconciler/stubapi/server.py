"""The stub server: serves a script over HTTP on 127.0.0.1 and records every request.

``StubAPI(script).start()`` returns the base URL to give the agent as
``ANTHROPIC_BASE_URL``; ``stop()`` (or leaving the ``with`` block) ends it,
releasing every request still held by a ``hang`` step. Requests are answered
on their own threads, so several agents can share one stub.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from reconciler.stubapi import wire
from reconciler.stubapi.records import MESSAGES_PATH, RecordedRequest, api_key_of
from reconciler.stubapi.steps import Kind, Script, ScriptLike, Step, error

UNMATCHED = error(400, "stub: no lane of the script matches this request")


class StubAPI:
    """A scripted stub of the Anthropic Messages API on 127.0.0.1.

    ``script`` is anything :meth:`Script.of` accepts: a list of steps, a
    ``{marker: [steps]}`` mapping (one lane per worker), lanes, or a
    :class:`Script`. ``record`` appends every request as a JSON line to that
    file. Use as a context manager, or ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        script: ScriptLike = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: Path | None = None,
        unmatched: Step = UNMATCHED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._script = Script.of(script)
        self._cursor = [0] * len(self._script.lanes)
        self._host, self._port = host, port
        self._record = record
        self._unmatched = unmatched
        self._clock = clock
        self._requests: list[RecordedRequest] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._sockets: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life --------------------------------------------------------------

    def start(self) -> str:
        """Listen and serve in a background thread; return the base URL.

        A stub serves once: after :meth:`stop` it cannot start again.
        """
        if self._server is not None:
            return self.url
        if self._stopping.is_set():
            raise RuntimeError("a stopped stub cannot start again; make a new StubAPI")
        server = ThreadingHTTPServer((self._host, self._port), _Handler)
        server.daemon_threads = True
        server.stub = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="stubapi", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, release held requests and drop every open connection."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._changed:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (for ``ANTHROPIC_BASE_URL``); needs ``start()``."""
        if self._server is None:
            raise RuntimeError("the stub is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        """The port it listens on (useful with ``port=0``)."""
        return int(self.url.rsplit(":", 1)[1])

    # -- script and records -----------------------------------------------

    def set_script(self, script: ScriptLike) -> None:
        """Serve a new script from its first step on (recorded requests are kept)."""
        with self._changed:
            self._script = Script.of(script)
            self._cursor = [0] * len(self._script.lanes)

    def remaining(self) -> dict[str, int]:
        """How many scripted steps each lane (by label) has not served yet."""
        with self._changed:
            return {
                lane.label: len(lane.steps) - pos
                for lane, pos in zip(self._script.lanes, self._cursor, strict=True)
            }

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order of arrival."""
        with self._changed:
            return list(self._requests)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The ``POST /v1/messages`` requests only (one per agent step)."""
        return [r for r in self.requests if r.is_messages]

    def wait_for_requests(
        self, count: int, timeout: float = 10.0, *, lane: str | None = None
    ) -> list[RecordedRequest]:
        """Block until ``count`` messages requests (of ``lane``, if given) have arrived.

        Raises ``TimeoutError`` naming how many came.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = [
                    r for r in self._requests if r.is_messages and (lane is None or r.lane == lane)
                ]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    msg = f"stub: {len(got)} of {count} messages requests came"
                    raise TimeoutError(msg)
                self._changed.wait(left)

    # -- used by the handler ----------------------------------------------

    def _next_step(self, body: bytes, api_key: str | None) -> tuple[str | None, Step]:
        for index, lane in enumerate(self._script.lanes):
            if lane.matches(body, api_key):
                pos = self._cursor[index]
                if pos < len(lane.steps):
                    self._cursor[index] = pos + 1
                    return lane.label, lane.steps[pos]
                return lane.label, lane.then
        return None, self._unmatched

    def _receive(
        self, method: str, target: str, headers: Mapping[str, str], raw: bytes
    ) -> RecordedRequest:
        parts = urlsplit(target)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._changed:
            lane: str | None = None
            step: Step | None = None
            if method == "POST" and parts.path == MESSAGES_PATH:
                lane, step = self._next_step(raw, api_key_of(headers))
            request = RecordedRequest(
                next(self._ids),
                method,
                parts.path,
                parts.query,
                dict(headers),
                body,
                raw,
                lane,
                step,
                self._clock(),
            )
            self._requests.append(request)
            if self._record is not None:
                with self._record.open("a") as out:
                    out.write(json.dumps(request.to_json()) + "\n")
            self._changed.notify_all()
        return request


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "orch-stubapi"

    @property
    def stub(self) -> StubAPI:
        stub: StubAPI = self.server.stub  # type: ignore[attr-defined]
        return stub

    def setup(self) -> None:
        super().setup()
        with self.stub._changed:
            self.stub._sockets.add(self.connection)

    def finish(self) -> None:
        with self.stub._changed:
            self.stub._sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the stub records requests instead of logging them."""

    def do_HEAD(self) -> None:
        self.stub._receive("HEAD", self.path, self._headers(), b"")
        self._reply(200, b"", "application/json", head_only=True)

    def do_GET(self) -> None:
        self.stub._receive("GET", self.path, self._headers(), b"")
        self._json(200, {})

    def do_PUT(self) -> None:
        self._other("PUT")

    def do_DELETE(self) -> None:
        self._other("DELETE")

    def do_POST(self) -> None:
        request = self.stub._receive("POST", self.path, self._headers(), self._body())
        if request.step is None:
            self._json(200, {"input_tokens": 10})
            return
        with contextlib.suppress(OSError):
            self._answer(request, request.step)

    def _other(self, method: str) -> None:
        self.stub._receive(method, self.path, self._headers(), self._body())
        self._json(200, {})

    def _headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _answer(self, request: RecordedRequest, step: Step) -> None:
        stub = self.stub
        if step.delay and stub._stopping.wait(step.delay):
            self.close_connection = True
            return
        seq = request.seq
        model = request.body.get("model", "claude-stub") if isinstance(request.body, dict) else ""
        msg_id, req_id = f"msg_stub{seq:04d}", f"req_stub{seq:04d}"
        if step.kind is Kind.ERROR:
            headers = wire.error_headers(step, req_id, stub._clock())
            self._json(step.status, wire.error_body(step, req_id), headers)
            return
        if step.kind is Kind.HANG:
            self._hang(step, msg_id, str(model))
            return
        tool_ids = [f"toolu_stub{seq:04d}_{n}" for n in range(len(step.calls))]
        streaming = isinstance(request.body, dict) and request.body.get("stream")
        headers = {"request-id": req_id, **step.headers}
        if not streaming:
            message = wire.message_json(step, msg_id=msg_id, model=model, tool_ids=tool_ids)
            self._json(200, message, headers)
            return
        events = wire.message_events(step, msg_id=msg_id, model=model, tool_ids=tool_ids)
        payload = b"".join(wire.sse(name, data) for name, data in events)
        self._reply(200, payload, "text/event-stream", headers)

    def _hang(self, step: Step, msg_id: str, model: str) -> None:
        self.close_connection = True
        if step.mid_stream:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            name, data = wire.message_start(step, msg_id=msg_id, model=model)
            self.wfile.write(wire.sse(name, data))
            self.wfile.flush()
        self.stub._stopping.wait(step.seconds)

    def _json(self, status: int, data: object, headers: Mapping[str, str] | None = None) -> None:
        self._reply(status, json.dumps(data).encode(), "application/json", headers)

    def _reply(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        *,
        head_only: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(payload)
