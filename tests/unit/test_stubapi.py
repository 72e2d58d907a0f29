"""The stub of the Messages API, over real HTTP with urllib: framing, steps, recording, lanes."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from reconciler.stubapi import (
    Lane,
    Script,
    ScriptError,
    StubAPI,
    bash,
    error,
    hang,
    slow,
    text,
    tool,
    with_headers,
)

Reply = tuple[int, dict[str, str], bytes]


def post(
    url: str,
    body: dict[str, Any] | None = None,
    *,
    path: str = "/v1/messages?beta=true",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """POST JSON; return status, lower-cased headers and the raw body (errors too)."""
    data = json.dumps(body if body is not None else request_body("hello")).encode()
    request = urllib.request.Request(
        url + path,
        data=data,
        method="POST",
        headers={"content-type": "application/json", "x-api-key": "sk-test-a", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def request_body(
    prompt: str, *, stream: bool = True, tool_result: str | None = None
) -> dict[str, Any]:
    """A request like the CLI's: a user prompt, optionally followed by a tool result."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": prompt}]}
    ]
    if tool_result is not None:
        messages += [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": tool_result}],
            },
        ]
    return {
        "model": "claude-test-1",
        "stream": stream,
        "messages": messages,
        "tools": [{"name": "Bash"}, {"name": "Edit"}],
    }


def parse_sse(payload: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Events of a stream, checking the framing: `event:` line, `data:` line, blank line."""
    text_ = payload.decode()
    assert text_.endswith("\n\n")
    events = []
    for block in text_[:-2].split("\n\n"):
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        events.append(
            (name_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: ")))
        )
    return events


def test_a_text_step_streams_the_message_events_in_order() -> None:
    with StubAPI([text("All done.")]) as stub:
        status, headers, payload = post(stub.url)
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    events = parse_sse(payload)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    assert all(data["index"] == 0 for name, data in events if name.startswith("content_block"))
    start = events[0][1]["message"]
    assert start["model"] == "claude-test-1" and start["role"] == "assistant"
    assert start["usage"]["input_tokens"] > 0
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "All done."}
    assert events[4][1]["delta"]["stop_reason"] == "end_turn"
    assert events[4][1]["usage"]["output_tokens"] > 0


def test_a_bash_step_streams_a_tool_use_as_input_json_deltas() -> None:
    with StubAPI([bash("git commit -qm x", "commit", text="Committing."), bash("ls")]) as stub:
        events = parse_sse(post(stub.url)[2])
        second = parse_sse(post(stub.url)[2])
    starts = [d for n, d in events if n == "content_block_start"]
    assert [s["content_block"]["type"] for s in starts] == ["text", "tool_use"]
    block = starts[1]["content_block"]
    assert block["name"] == "Bash" and block["input"] == {} and block["id"].startswith("toolu_")
    partial = [
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["index"] == 1
    ]
    assert all(
        d["delta"]["type"] == "input_json_delta"
        for n, d in events
        if n == "content_block_delta" and d["index"] == 1
    )
    assert json.loads("".join(partial)) == {"command": "git commit -qm x", "description": "commit"}
    assert [d["index"] for n, d in events if n == "content_block_stop"] == [0, 1]
    assert next(d for n, d in events if n == "message_delta")["delta"]["stop_reason"] == "tool_use"
    other_id = next(d for n, d in second if n == "content_block_start")["content_block"]["id"]
    assert other_id != block["id"]


def test_a_tool_step_calls_any_tool_and_a_non_streaming_request_gets_one_json_message() -> None:
    with StubAPI([tool("Write", {"file_path": "/x", "content": "y"})]) as stub:
        status, headers, payload = post(stub.url, request_body("hi", stream=False))
    assert status == 200 and headers["content-type"] == "application/json"
    message = json.loads(payload)
    assert message["stop_reason"] == "tool_use"
    assert message["content"][0]["name"] == "Write"
    assert message["content"][0]["input"] == {"file_path": "/x", "content": "y"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, "api_error"), (529, "overloaded_error"), (400, "invalid_request_error")],
)
def test_an_error_step_answers_the_api_error_body(status: int, kind: str) -> None:
    with StubAPI([error(status)]) as stub:
        got, headers, payload = post(stub.url)
    assert got == status
    body = json.loads(payload)
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["error"]["message"]
    assert "anthropic-ratelimit-unified-status" not in headers


def test_a_429_carries_the_rate_limit_headers_with_a_reset_time() -> None:
    with StubAPI(
        [error(429), error(429, "slow down", {"retry-after": "", "x-extra": "1"})]
    ) as stub:
        status, headers, payload = post(stub.url)
        _, other, body = post(stub.url)
    assert status == 429
    assert headers["anthropic-ratelimit-unified-status"] == "rejected"
    reset = int(headers["anthropic-ratelimit-unified-reset"])
    assert time.time() < reset <= time.time() + 2 * 3600
    assert int(headers["retry-after"]) > 0
    assert json.loads(payload)["error"]["type"] == "rate_limit_error"
    # Headers of the step add to the defaults; an empty value drops one.
    assert "retry-after" not in other and other["x-extra"] == "1"
    assert json.loads(body)["error"]["message"] == "slow down"


def test_extra_headers_on_a_successful_answer() -> None:
    warning = {"anthropic-ratelimit-unified-status": "allowed_warning"}
    with StubAPI([with_headers(text("ok"), warning)]) as stub:
        status, headers, _ = post(stub.url)
    assert status == 200 and headers["anthropic-ratelimit-unified-status"] == "allowed_warning"


def test_a_hang_answers_nothing_until_the_stub_stops() -> None:
    stub = StubAPI([hang()])
    stub.start()
    outcome: list[object] = []

    def client() -> None:
        try:
            outcome.append(post(stub.url, timeout=30))
        except (OSError, http.client.HTTPException) as err:
            outcome.append(err)

    thread = threading.Thread(target=client)
    thread.start()
    stub.wait_for_requests(1)
    thread.join(timeout=0.5)
    assert thread.is_alive() and outcome == []  # accepted, recorded, and silent
    started = time.monotonic()
    stub.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - started < 5
    assert isinstance(outcome[0], (OSError, http.client.HTTPException))  # dropped, never answered


def test_a_hang_for_some_seconds_then_drops_the_connection() -> None:
    with StubAPI([hang(0.3), text("after")]) as stub:
        started = time.monotonic()
        with pytest.raises((OSError, http.client.HTTPException)):
            post(stub.url, timeout=10)
        assert 0.25 < time.monotonic() - started < 5
        assert parse_sse(post(stub.url)[2])[2][1]["delta"]["text"] == "after"


def test_a_mid_stream_hang_sends_message_start_then_goes_silent() -> None:
    with StubAPI([hang(mid_stream=True)]) as stub:
        conn = http.client.HTTPConnection("127.0.0.1", stub.port, timeout=5)
        conn.request(
            "POST",
            "/v1/messages",
            json.dumps(request_body("x")),
            {"content-type": "application/json"},
        )
        answer = conn.getresponse()
        assert answer.status == 200
        first = b"".join(answer.fp.readline() for _ in range(3))
        assert first.startswith(b"event: message_start\ndata: ") and first.endswith(b"\n\n")
        answer.fp.raw._sock.settimeout(0.3)  # type: ignore[attr-defined]
        with pytest.raises(socket.timeout):
            answer.fp.read(1)
        conn.close()


def test_a_slow_step_answers_late_without_holding_back_other_clients() -> None:
    with StubAPI({"Worker a,": [slow(0.5, text("late"))], "Worker b,": [text("quick")]}) as stub:
        done: dict[str, float] = {}

        def ask(name: str) -> None:
            post(stub.url, request_body(f"Worker {name}, stage s"))
            done[name] = time.monotonic()

        started = time.monotonic()
        threads = [threading.Thread(target=ask, args=(n,)) for n in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
    assert done["b"] < done["a"]
    assert done["a"] - started >= 0.5


def test_every_request_is_recorded_with_headers_body_and_the_step_served() -> None:
    with StubAPI([bash("ls"), text("done")]) as stub:
        head = urllib.request.Request(stub.url + "/", method="HEAD")
        with urllib.request.urlopen(head, timeout=5) as answer:
            assert answer.status == 200
        post(stub.url, request_body("Worker w1, stage build: go"))
        post(stub.url, request_body("Worker w1, stage build: go", tool_result="a.txt\nb.txt"))
        status, _, payload = post(stub.url, path="/v1/messages/count_tokens?beta=true")
        assert status == 200 and json.loads(payload) == {"input_tokens": 10}
        records = stub.requests
    assert [(r.method, r.path) for r in records] == [
        ("HEAD", "/"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
    ]
    first, second = records[1], records[2]
    assert first.query == "beta=true" and first.headers["x-api-key"] == "sk-test-a"
    assert first.api_key == "sk-test-a" and first.tool_names == ["Bash", "Edit"]
    assert first.body["model"] == "claude-test-1"
    assert first.last_user_text() == "Worker w1, stage build: go"
    assert second.last_user_text() == "a.txt\nb.txt"
    assert [r.step.kind.value if r.step else None for r in records] == [None, "tool", "text", None]
    assert stub.remaining() == {"*": 0}
    assert [r.seq for r in stub.message_requests] == [2, 3]


def test_two_workers_share_one_stub_each_with_its_own_lane() -> None:
    script = {
        "Worker w1,": [bash("echo 1"), bash("echo 2"), text("w1 done")],
        "Worker w2,": [bash("echo A"), bash("echo B"), text("w2 done")],
    }
    answers: dict[str, list[str]] = {"w1": [], "w2": []}
    with StubAPI(script) as stub:

        def worker(name: str) -> None:
            for n in range(3):
                events = parse_sse(post(stub.url, request_body(f"Worker {name}, step {n}"))[2])
                deltas = [d["delta"] for e, d in events if e == "content_block_delta"]
                answers[name].append(
                    "".join(d.get("partial_json", d.get("text", "")) for d in deltas)
                )

        threads = [threading.Thread(target=worker, args=(n,)) for n in ("w1", "w2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert [r.lane for r in stub.wait_for_requests(3, lane="Worker w1,")] == ["Worker w1,"] * 3
        assert stub.remaining() == {"Worker w1,": 0, "Worker w2,": 0}
    assert [json.loads(a)["command"] for a in answers["w1"][:2]] == ["echo 1", "echo 2"]
    assert [json.loads(a)["command"] for a in answers["w2"][:2]] == ["echo A", "echo B"]
    assert (answers["w1"][2], answers["w2"][2]) == ("w1 done", "w2 done")


def test_lanes_by_api_key_then_after_the_script_and_unmatched_requests() -> None:
    lanes = [
        Lane((text("for a"),), api_key="sk-test-a", then=error(529)),
        Lane((text("for b"),), api_key="sk-test-b"),
    ]
    with StubAPI(lanes) as stub:
        assert post(stub.url)[0] == 200
        assert post(stub.url)[0] == 529  # lane a used up: its `then`, every time
        assert post(stub.url)[0] == 529
        assert b"for b" in post(stub.url, headers={"x-api-key": "sk-test-b"})[2]
        status, _, payload = post(stub.url, headers={"x-api-key": "sk-other"})
        assert status == 400 and b"no lane" in payload
        assert stub.message_requests[-1].lane is None
        with pytest.raises(TimeoutError, match="5 of 9"):
            stub.wait_for_requests(9, timeout=0.1)


def test_set_script_serves_a_new_script_from_its_start() -> None:
    with StubAPI([text("one")]) as stub:
        post(stub.url)
        stub.set_script([text("two")])
        assert b'"two"' in post(stub.url)[2]
        assert len(stub.message_requests) == 2


def test_scripts_read_from_json_and_bad_ones_name_the_problem(tmp_path: Path) -> None:
    script = Script.of({"w1": [bash("ls"), slow(2, error(429)), hang(3, mid_stream=True)]})
    assert Script.from_json(json.loads(json.dumps(script.to_json()))) == script
    assert Script.from_json([{"kind": "text", "text": "x"}]) == Script.of([text("x")])
    with pytest.raises(ScriptError, match="unknown step kind 'nap'"):
        Script.from_json([{"kind": "nap"}])
    with pytest.raises(ScriptError, match="'command'"):
        Script.from_json([{"kind": "bash"}])
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ScriptError, match=r"bad\.json"):
        Script.load(bad)


def test_python_m_entry_point_serves_a_script_file_and_records(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"lanes": [{"steps": [{"kind": "text", "text": "from file"}]}]}))
    record = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.stubapi",
            "--port",
            "0",
            "--script",
            str(script),
            "--record",
            str(record),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("stubapi: listening on http://127.0.0.1:")
        url = line.split()[-1]
        assert b"from file" in post(url, request_body("Worker w9, go"))[2]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    (recorded,) = [json.loads(x) for x in record.read_text().splitlines()]
    assert recorded["path"] == "/v1/messages" and recorded["step"]["kind"] == "text"
    assert recorded["body"]["messages"][0]["content"][0]["text"] == "Worker w9, go"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"kind": "nap"}]')
    done = subprocess.run(
        [sys.executable, "-m", "reconciler.stubapi", "--script", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "unknown step kind" in done.stderr


def test_without_a_script_every_request_ends_the_turn_and_a_stopped_stub_stays_stopped() -> None:
    stub = StubAPI()
    with stub:
        events = parse_sse(post(stub.url)[2])
    assert events[2][1]["delta"]["text"] == "(stub: script exhausted)"
    assert events[4][1]["delta"]["stop_reason"] == "end_turn"
    with pytest.raises(RuntimeError, match="cannot start again"):
        stub.start()
