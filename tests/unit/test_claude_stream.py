"""claude_stream: stream-json lines the real CLI printed, folded into StreamFacts.

The recordings in tests/data/claude/ are real ``claude -p --output-format
stream-json --verbose`` runs against the stub API (see that folder's README);
synthetic lines cover what the stub cannot make the CLI print.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.claude_stream import StreamFacts, facts_of, fold
from reconciler.core.profiles import CLAUDE_QUIET

PROPERTY = settings(database=None, deadline=None)  # no .hypothesis/ folder in the repo

DATA = Path(__file__).resolve().parents[1] / "data" / "claude"
SCENARIOS = sorted(p.name.removesuffix(".stream.jsonl") for p in DATA.glob("*.stream.jsonl"))
# (type, subtype) of the lines that are not progress (docs/claude-code-facts.md)
QUIET_KINDS = {
    ("system", "api_retry"),
    ("system", "hook_started"),
    ("system", "hook_response"),
    ("system", "notification"),
    ("rate_limit_event", None),
}


def recorded(name: str) -> list[str]:
    """The stdout lines of one recorded run."""
    return (DATA / f"{name}.stream.jsonl").read_text().splitlines()


def kind(line: str) -> tuple[str, str | None]:
    event = json.loads(line)
    return event["type"], event.get("subtype")


def init_session(lines: list[str]) -> str:
    """The session id the run's ``system/init`` line names (read here without the module)."""
    (sid,) = {json.loads(x)["session_id"] for x in lines if kind(x) == ("system", "init")}
    assert isinstance(sid, str) and len(sid) == 36
    return sid


def facts(lines: list[str]) -> StreamFacts:
    return facts_of(fold({}, lines))


ALL_LINES = [line for name in SCENARIOS for line in recorded(name)]


def test_the_recordings_are_there() -> None:
    assert {"tool_then_text", "server_error", "usage_limit", "budget"} <= set(SCENARIOS)


# -- real runs, folded whole --------------------------------------------------------------


def test_a_tool_call_then_text() -> None:
    lines = recorded("tool_then_text")
    assert facts(lines) == StreamFacts(
        session_id=init_session(lines),
        turns=2,
        tool_calls=1,
        last_text="Wrote a.txt.",
        cost_usd=0.0125,
        ended=True,
    )


def test_a_run_still_going_has_not_ended_and_has_no_cost_yet() -> None:
    lines = recorded("tool_then_text")
    assert kind(lines[-1]) == ("result", "success")
    f = facts(lines[:-1])
    assert (f.ended, f.turns, f.cost_usd) == (False, None, None)
    assert (f.tool_calls, f.last_text) == (1, "Wrote a.txt.")
    assert f.session_id == init_session(lines)


def test_the_session_id_comes_from_the_first_lines_before_any_answer() -> None:
    lines = recorded("tool_then_text")
    first_answer = next(i for i, x in enumerate(lines) if kind(x)[0] == "assistant")
    assert facts(lines[:first_answer]).session_id == init_session(lines)


def test_a_server_error_after_its_retries() -> None:
    lines = recorded("server_error")
    assert sum(kind(x) == ("system", "api_retry") for x in lines) == 2
    f = facts(lines)
    assert (f.ended, f.is_error, f.api_status, f.rate_limited) == (True, True, 500, False)
    assert f.error.startswith("API Error: 500 Internal server error.")
    assert (f.turns, f.tool_calls, f.cost_usd, f.budget_hit) == (1, 0, 0, False)
    assert f.last_text == f.error  # the synthetic assistant line carries the same text


def test_a_usage_limit_under_subscription_auth_says_when_it_lifts() -> None:
    f = facts(recorded("usage_limit"))
    assert (f.is_error, f.api_status, f.rate_limited) == (True, 429, True)
    assert f.resets_at == 1900000000.0  # the rate_limit_event's resetsAt (the stub's header)
    assert f.error.startswith("You've hit your limit · resets ")


def test_a_rejected_rate_limit_event_alone_marks_the_limit() -> None:
    (event,) = [x for x in recorded("usage_limit") if kind(x)[0] == "rate_limit_event"]
    f = facts([event])
    assert (f.rate_limited, f.resets_at, f.ended) == (True, 1900000000.0, False)


def test_a_limit_warning_is_not_a_limit_and_its_reset_time_is_not_kept() -> None:
    """An ``allowed_warning`` event carries the window's resetsAt: no limit holds yet.

    A later 429 of the same run that is not the usage limit must not pause the
    account until that (possibly days away) reset.
    """
    lines = recorded("limit_warning")
    assert any('"status":"allowed_warning"' in x and '"resetsAt"' in x for x in lines)
    f = facts(lines)
    assert (f.rate_limited, f.resets_at, f.is_error) == (False, None, False)
    assert (f.last_text, f.cost_usd) == ("Nearly at the limit.", 0.00375)
    throttled = json.dumps(
        {
            "type": "result",
            "subtype": "success",
            "is_error": True,
            "api_error_status": 429,
            "result": "API Error: Server is temporarily limiting requests (not your usage limit)",
        }
    )
    later = facts([*lines[:-1], throttled])
    assert (later.rate_limited, later.resets_at) == (True, None)


def test_the_budget_stop() -> None:
    f = facts(recorded("budget"))
    assert (f.budget_hit, f.is_error, f.ended) == (True, True, True)
    assert f.error == "Reached maximum budget ($0.01)"  # from `errors`: no `result` key
    assert (f.cost_usd, f.turns, f.tool_calls) == (0.0125, 2, 2)
    assert (f.api_status, f.rate_limited) == (None, False)


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("auth_failed", 401, "Invalid API key · Fix external API key"),
        ("billing", 400, "Credit balance is too low"),
    ],
)
def test_other_api_errors_are_errors_not_limits(name: str, status: int, error: str) -> None:
    f = facts(recorded(name))
    assert (f.is_error, f.api_status, f.error, f.rate_limited) == (True, status, error, False)


def test_a_run_the_stop_hook_sent_back_once() -> None:
    lines = recorded("stop_nudged")
    assert any(json.loads(x).get("isSynthetic") for x in lines)  # the hook's feedback
    f = facts(lines)
    assert (f.turns, f.tool_calls, f.last_text, f.is_error) == (2, 0, "Second answer.", False)


# -- lines that are not progress ----------------------------------------------------------


def _quiet(line: str) -> bool:
    """Whether the claude profile's quiet patterns hide ``line`` (as loop/activity.py does)."""
    return any(re.search(p, line) for p in CLAUDE_QUIET)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_quiet_patterns_hide_exactly_the_lines_that_are_not_progress(name: str) -> None:
    for line in recorded(name):
        assert _quiet(line) == (kind(line) in QUIET_KINDS), line[:120]


def test_the_recordings_hold_every_kind_of_quiet_line() -> None:
    assert {kind(x) for x in ALL_LINES} >= QUIET_KINDS


def test_quiet_lines_fold_to_no_progress() -> None:
    quiet = [x for x in ALL_LINES if kind(x) in QUIET_KINDS and kind(x)[0] != "rate_limit_event"]
    assert len(quiet) >= 10
    f = facts(quiet)
    assert f == StreamFacts(session_id=f.session_id)
    assert f.session_id is not None


# -- partial and foreign lines ------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["", "   ", "not json", "Error: Input must be provided", "{", '{"type":"result"', "[]",
     "null", "42", '"text"', "}{", "\x00\x01\x02", '[{"type":"result","is_error":true}]'],
)  # fmt: skip
def test_garbage_lines_are_ignored(line: str) -> None:
    assert fold({}, [line]) == {}


@PROPERTY
@given(st.sampled_from(ALL_LINES), st.data())
def test_a_line_cut_short_is_ignored(line: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(line) - 1))
    assert fold({}, [line[:cut]]) == {}


def test_a_line_with_a_prefix_before_its_json_is_read() -> None:
    lines = recorded("tool_then_text")
    prefixed = ["[2026-01-01 12:00] " + x for x in lines]
    assert facts(prefixed) == facts(lines)


# -- folding in chunks --------------------------------------------------------------------

SYNTHETIC = [
    '{"type":"system","subtype":"init","session_id":"s-other"}',
    '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected"}}',
    (
        '{"type":"result","subtype":"error_during_execution","is_error":true,"num_turns":0,'
        '"errors":["No conversation found with session ID: s-gone"],"session_id":"s-new"}'
    ),
    "garbage",
    (
        '{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash"},'
        '{"type":"text","text":"both"}]}}'
    ),
]
LINES = st.lists(st.sampled_from(ALL_LINES + SYNTHETIC), max_size=25)


@PROPERTY
@given(LINES, st.lists(st.integers(0, 25), max_size=4))
def test_folding_in_chunks_equals_folding_at_once(lines: list[str], cuts: list[int]) -> None:
    """What orch keeps between passes (a JSON round trip in activity.json) loses nothing."""
    bounds = [0, *sorted(min(c, len(lines)) for c in cuts), len(lines)]
    kept: dict[str, Any] = {}
    for start, end in itertools.pairwise(bounds):
        kept = json.loads(json.dumps(fold(kept, lines[start:end])))
    assert kept == fold({}, lines)


# -- synthetic lines: rules the recordings do not reach -----------------------------------


def _line(**event: Any) -> str:
    return json.dumps(event)


def _assistant(*blocks: object) -> str:
    return _line(type="assistant", message={"content": list(blocks)})


def _result(**fields: Any) -> str:
    return _line(type="result", subtype="success", **fields)


def test_the_first_session_id_is_kept() -> None:
    f = facts(
        [
            _line(type="system", subtype="init", session_id="s1"),
            _result(is_error=False, session_id="s2"),
        ]
    )
    assert f.session_id == "s1"


def test_only_system_and_result_lines_name_the_session() -> None:
    assert facts([_line(type="assistant", session_id="s1", message={})]).session_id is None
    assert facts([_line(type="user", session_id="s1")]).session_id is None
    assert facts([_result(is_error=False, session_id="s3")]).session_id == "s3"


def test_a_resume_that_finds_no_conversation() -> None:
    """`--resume` from another cwd: one result line, no `result` key, the reason in `errors`."""
    f = facts(
        [
            _line(
                type="result",
                subtype="error_during_execution",
                is_error=True,
                num_turns=0,
                errors=["No conversation found with session ID: abc"],
                session_id="s9",
            )
        ]
    )
    assert (f.is_error, f.turns, f.session_id) == (True, 0, "s9")
    assert f.error == "No conversation found with session ID: abc"
    assert (f.budget_hit, f.rate_limited) == (False, False)


def test_every_tool_use_block_counts_and_the_last_text_wins() -> None:
    f = facts(
        [
            _assistant({"type": "text", "text": "first"}, {"type": "tool_use", "name": "Bash"}),
            _assistant({"type": "tool_use", "name": "Read"}, {"type": "tool_use", "name": "Edit"}),
            _assistant({"type": "text", "text": "second"}),
            _assistant({"type": "tool_use", "name": "Bash"}),
            _line(type="user", message={"content": [{"type": "text", "text": "not the agent's"}]}),
        ]
    )
    assert (f.tool_calls, f.last_text) == (4, "second")


def test_odd_assistant_lines_are_skipped() -> None:
    f = facts(
        [
            _line(type="assistant"),
            _line(type="assistant", message="text"),
            _line(type="assistant", message={"content": "text"}),
            _assistant("a string block", {"type": "text", "text": 5}, {"type": "thinking"}),
        ]
    )
    assert (f.tool_calls, f.last_text) == (0, "")


def test_the_last_text_keeps_its_last_2000_characters() -> None:
    text = "a" * 1000 + "b" * 2000
    assert facts([_assistant({"type": "text", "text": text})]).last_text == "b" * 2000


def test_an_error_without_text_falls_back_to_the_last_text_then_the_subtype() -> None:
    said = _assistant({"type": "text", "text": "API Error: 529 Overloaded"})
    assert facts([said, _result(is_error=True)]).error == "API Error: 529 Overloaded"
    bare = facts([_line(type="result", subtype="error_during_execution", is_error=True)])
    assert bare.error == "error_during_execution"


def test_several_errors_are_joined() -> None:
    f = facts([_line(type="result", subtype="x", is_error=True, errors=["one", "two"])])
    assert f.error == "one; two"


@pytest.mark.parametrize(
    ("text", "limited"),
    [
        ("Claude AI usage limit reached|1767225600", True),
        ("5-hour session limit reached", True),
        ("API Error: Rate limit exceeded", True),
        ("API Error: Request rejected (429) · slow down", True),
        ("API Error: 529 Overloaded. This is a server-side issue", False),
        ("API Error: 500 Internal server error (127.0.0.1:4290)", False),
        ("Request timed out", False),
    ],
)
def test_an_error_text_that_names_a_limit_is_a_limit(text: str, limited: bool) -> None:
    f = facts([_result(is_error=True, api_error_status=None, result=text)])
    assert (f.rate_limited, f.error) == (limited, text)


def test_a_successful_run_that_mentions_a_rate_limit_is_not_limited() -> None:
    f = facts([_result(is_error=False, result="I added a rate limit (429) to the API.")])
    assert (f.rate_limited, f.is_error, f.error) == (False, False, "")


def test_non_numbers_are_not_taken_as_turns_cost_or_status() -> None:
    f = facts([_result(is_error=True, num_turns="3", total_cost_usd=None, api_error_status="429")])
    assert (f.turns, f.cost_usd, f.api_status) == (None, None, None)


@pytest.mark.parametrize("status", ["rejected", "blocked"])
def test_a_rejection_without_a_reset_time(status: str) -> None:
    f = facts([_line(type="rate_limit_event", rate_limit_info={"status": status})])
    assert (f.rate_limited, f.resets_at) == (True, None)


@pytest.mark.parametrize("status", ["allowed", "allowed_warning", ""])
def test_an_allowed_rate_limit_event_changes_nothing(status: str) -> None:
    info = {"status": status, "resetsAt": 1900000000, "utilization": 0.93}
    assert fold({}, [_line(type="rate_limit_event", rate_limit_info=info)]) == {}


def test_facts_of_ignores_unknown_keys() -> None:
    assert facts_of({"session_id": "s", "offset": 10, "progress": 1.0}) == StreamFacts(
        session_id="s"
    )
