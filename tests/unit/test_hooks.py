"""hooks: the lines `orch hook` wrote for real Claude Code runs, folded into HookFacts.

The recordings in tests/data/claude/*.hooks.jsonl are the ``.orch/hooks.jsonl``
that ``python -m reconciler hook EVENT`` wrote while the real CLI ran with
``hooks.settings(...)`` (stage ``build``, attempt 1; see that folder's README).
"""

from __future__ import annotations

import itertools
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from reconciler.core.hooks import HOOK_EVENTS, HookFacts, facts_of, fold, settings

PROPERTY = hypothesis_settings(database=None, deadline=None)  # no .hypothesis/ folder in the repo

DATA = Path(__file__).resolve().parents[1] / "data" / "claude"
SCENARIOS = sorted(p.name.removesuffix(".hooks.jsonl") for p in DATA.glob("*.hooks.jsonl"))


def recorded(name: str) -> list[str]:
    return (DATA / f"{name}.hooks.jsonl").read_text().splitlines()


def events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in lines]


def upto(lines: list[str], event: str, nth: int = 1) -> list[str]:
    """``lines`` up to and including the ``nth`` line of ``event``."""
    seen = 0
    for i, hook in enumerate(events(lines)):
        seen += hook["event"] == event
        if seen == nth:
            return lines[: i + 1]
    raise AssertionError(f"no {event} #{nth}")


def facts(lines: list[str], stage: str = "build", attempt: int = 1) -> HookFacts:
    return facts_of(fold({}, lines, stage, attempt))


def line(event: str, ts: object = 1.0, stage: str = "s", attempt: int = 1, **fields: Any) -> str:
    return json.dumps({"event": event, "ts": ts, "stage": stage, "attempt": attempt, **fields})


def synthetic(*lines: str) -> HookFacts:
    return facts_of(fold({}, lines, "s", 1))


ALL_LINES = [x for name in SCENARIOS for x in recorded(name)]


# -- real runs ----------------------------------------------------------------------------


def test_the_recordings_are_from_orch_hook() -> None:
    assert {"tool_then_text", "stop_nudged", "usage_limit", "tool_fails"} <= set(SCENARIOS)
    for hook in events(ALL_LINES):
        assert (hook["stage"], hook["attempt"]) == ("build", 1)
        assert hook["event"] == hook["hook_event_name"] and isinstance(hook["ts"], float)


def test_a_normal_run() -> None:
    lines = recorded("tool_then_text")
    hooks = events(lines)
    assert [h["event"] for h in hooks] == [
        "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd",
    ]  # fmt: skip
    assert facts(lines) == HookFacts(last=hooks[-1]["ts"], session_id=hooks[0]["session_id"],
                                     prompted=True)


def test_the_session_id_comes_with_session_start() -> None:
    lines = recorded("tool_then_text")
    f = facts(lines[:1])
    assert f.session_id == events(lines)[0]["session_id"] and f.open_tool is None


def test_a_tool_call_is_open_from_pre_to_post_tool_use() -> None:
    lines = recorded("tool_then_text")
    pre = events(lines)[2]
    during = facts(upto(lines, "PreToolUse"))
    assert (during.open_tool, during.open_since, during.last) == ("Bash", pre["ts"], pre["ts"])
    after = facts(upto(lines, "PostToolUse"))
    assert (after.open_tool, after.open_since) == (None, None)
    assert after.last == events(lines)[3]["ts"] > pre["ts"]


def test_a_failed_tool_call_closes_too() -> None:
    """A tool that fails (Bash exit 3) fires PostToolUseFailure, not PostToolUse."""
    lines = recorded("tool_fails")
    names = [h["event"] for h in events(lines)]
    assert "PostToolUseFailure" in names and "PostToolUse" not in names
    assert facts(upto(lines, "PreToolUse")).open_tool == "Bash"
    assert facts(upto(lines, "PostToolUseFailure")).open_tool is None


def test_the_budget_stop_leaves_no_tool_open() -> None:
    """--max-budget-usd: a tool started, SessionEnd came, then (maybe) its PostToolUse."""
    lines = recorded("budget")
    assert facts(upto(lines, "PreToolUse", 2)).open_tool == "Bash"
    assert facts(upto(lines, "SessionEnd")).open_tool is None
    end = facts(lines)
    assert (end.open_tool, end.open_since, end.failure) == (None, None, None)


@pytest.mark.parametrize(
    ("name", "error", "text"),
    [
        ("server_error", "server_error", "API Error: 500 Internal server error."),
        ("usage_limit", "rate_limit", "You've hit your limit · resets "),
        ("auth_failed", "authentication_failed", "Invalid API key · Fix external API key"),
        ("billing", "billing_error", "Credit balance is too low"),
    ],
)
def test_stop_failure_keeps_its_error_type(name: str, error: str, text: str) -> None:
    """SessionEnd and StopFailure come in either order (billing: SessionEnd first)."""
    f = facts(recorded(name))
    assert f.failure == error
    assert f.failure_text.startswith(text)
    assert (f.open_tool, f.nudges, f.needs_input) == (None, 0, None)


def test_a_nudged_stop_is_counted() -> None:
    lines = recorded("stop_nudged")
    stops = [h for h in events(lines) if h["event"] == "Stop"]
    assert [h.get("nudged", False) for h in stops] == [True, False]
    assert facts(lines).nudges == 1


@pytest.mark.parametrize(("stage", "attempt"), [("build", 2), ("test", 1), ("", 0)])
def test_lines_of_another_stage_or_attempt_are_skipped(stage: str, attempt: int) -> None:
    assert fold({}, ALL_LINES, stage, attempt) == {}


# -- synthetic lines ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", ["rate_limit", "overloaded", "authentication_failed", "billing_error", "server_error"]
)
def test_every_stop_failure_type_is_kept_as_it_is(error: str) -> None:
    f = synthetic(line("StopFailure", error=error, last_assistant_message="why"))
    assert (f.failure, f.failure_text) == (error, "why")


def test_a_stop_failure_without_an_error_type_is_unknown() -> None:
    f = synthetic(line("StopFailure"))
    assert (f.failure, f.failure_text) == ("unknown", "")


def test_the_failure_text_keeps_its_last_500_characters() -> None:
    f = synthetic(line("StopFailure", error="x", last_assistant_message="a" * 100 + "b" * 500))
    assert f.failure_text == "b" * 500


@pytest.mark.parametrize("closer", ["PostToolUse", "PostToolUseFailure", "Stop", "StopFailure",
                                    "SessionEnd"])  # fmt: skip
def test_an_open_tool_call_is_closed_by(closer: str) -> None:
    f = synthetic(line("PreToolUse", 5, tool_name="Bash"), line(closer, 9))
    assert (f.open_tool, f.open_since, f.last) == (None, None, 9)


@pytest.mark.parametrize("other", ["SessionStart", "UserPromptSubmit", "Notification"])
def test_an_open_tool_call_stays_open_through(other: str) -> None:
    f = synthetic(line("PreToolUse", 5, tool_name="Bash"), line(other, 9))
    assert (f.open_tool, f.open_since, f.last) == ("Bash", 5, 9)


def test_the_latest_tool_call_is_the_open_one() -> None:
    f = synthetic(line("PreToolUse", 5, tool_name="Bash"), line("PreToolUse", 7, tool_name="Read"))
    assert (f.open_tool, f.open_since) == ("Read", 7)
    assert synthetic(line("PreToolUse", 5)).open_tool == "a tool"


@pytest.mark.parametrize(
    ("hook", "waits_for"),
    [
        (line("Notification", message="Claude needs your permission",
              notification_type="permission_prompt"), "Claude needs your permission"),
        (line("Notification", message="Claude needs your permission to use Bash"),
         "Claude needs your permission to use Bash"),
        (line("Notification", message="Claude is waiting for your input",
              notification_type="idle_prompt"), None),
        (line("Notification"), None),
        (line("PermissionRequest", tool_name="WebFetch"), "permission to use WebFetch"),
        (line("PermissionRequest"), "PermissionRequest"),
        (line("Elicitation", message="Which branch?"), "Which branch?"),
        (line("Notification", message="x" * 400, notification_type="permission_prompt"),
         "x" * 300),
    ],
)  # fmt: skip
def test_a_question_for_a_person(hook: str, waits_for: str | None) -> None:
    assert synthetic(hook).needs_input == waits_for


@pytest.mark.parametrize(
    "answer", ["PreToolUse", "PostToolUse", "PostToolUseFailure", "UserPromptSubmit"]
)
def test_the_question_is_answered_when_the_agent_goes_on(answer: str) -> None:
    asked = line("PermissionRequest", tool_name="Bash")
    assert synthetic(asked, line(answer)).needs_input is None
    assert synthetic(asked, line("Stop")).needs_input == "permission to use Bash"


def test_the_permission_notification_keeps_the_tool_as_the_reason() -> None:
    """As the interactive CLI sends them: PermissionRequest, then the Notification."""
    asked = line("PermissionRequest", tool_name="Bash")
    told = line("Notification", message="Claude needs your permission",
                notification_type="permission_prompt")  # fmt: skip
    assert synthetic(asked, told).needs_input == "permission to use Bash"


def test_nudges_count_only_nudged_stops() -> None:
    f = synthetic(
        line("Stop", nudged=True),
        line("Stop"),
        line("Stop", nudged=True),
        line("StopFailure", nudged=True, error="x"),
        line("Stop", nudged=False),
        line("Stop", nudged=True, stage="other"),
    )
    assert f.nudges == 2


@pytest.mark.parametrize(
    "bad",
    ["", "not json", '{"event":"PreToolUse"', "[1, 2]", "null", "7", '"Stop"'],
)
def test_garbage_lines_are_skipped(bad: str) -> None:
    assert fold({}, [bad], "s", 1) == {}


def test_lines_without_stage_or_attempt_are_skipped() -> None:
    lines = [
        json.dumps({"event": "PreToolUse", "ts": 1, "tool_name": "Bash"}),
        json.dumps({"event": "PreToolUse", "ts": 1, "stage": "s", "tool_name": "Bash"}),
        json.dumps({"event": "PreToolUse", "ts": 1, "attempt": 1, "tool_name": "Bash"}),
    ]
    assert fold({}, lines, "s", 1) == {}


def test_a_missing_or_odd_timestamp_is_not_a_sign_of_life() -> None:
    untimed = json.dumps({"event": "Stop", "stage": "s", "attempt": 1})
    assert synthetic(line("Stop", 3), untimed).last == 3
    assert synthetic(line("Stop", ts="soon")).last is None


def test_facts_of_ignores_unknown_keys() -> None:
    assert facts_of({"nudges": 2, "offset": 5}) == HookFacts(nudges=2)


@PROPERTY
@given(st.lists(st.sampled_from([*ALL_LINES, "garbage", line("PreToolUse", 2, "build")]),
                max_size=25), st.lists(st.integers(0, 25), max_size=4))  # fmt: skip
def test_folding_in_chunks_equals_folding_at_once(lines: list[str], cuts: list[int]) -> None:
    """What orch keeps between passes (a JSON round trip in activity.json) loses nothing."""
    bounds = [0, *sorted(min(c, len(lines)) for c in cuts), len(lines)]
    kept: dict[str, Any] = {}
    for start, end in itertools.pairwise(bounds):
        kept = json.loads(json.dumps(fold(kept, lines[start:end], "build", 1)))
    assert kept == fold({}, lines, "build", 1)


# -- settings -----------------------------------------------------------------------------

COMMAND = ["/opt/orch venv/bin/python", "-m", "reconciler", "hook"]


def test_settings_run_the_command_with_the_event_for_every_event() -> None:
    hooks = settings(COMMAND)["hooks"]
    assert list(hooks) == list(HOOK_EVENTS)
    for event, entries in hooks.items():
        (entry,) = entries
        (hook,) = entry["hooks"]
        assert hook == {
            "type": "command",
            "command": f"'/opt/orch venv/bin/python' -m reconciler hook {event}",
            "timeout": 10,
        }


def test_tool_events_match_every_tool() -> None:
    hooks = settings(COMMAND)["hooks"]
    matched = {event for event, (entry,) in hooks.items() if "matcher" in entry}
    assert matched == {"PreToolUse", "PostToolUse", "PostToolUseFailure"}
    assert {hooks[e][0]["matcher"] for e in matched} == {"*"}


def test_settings_register_every_event_the_fold_reads() -> None:
    read = {
        "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure",
        "Stop", "StopFailure", "SessionEnd", "Notification", "PermissionRequest",
    }  # fmt: skip
    assert read <= set(settings(COMMAND)["hooks"])


def test_settings_are_json() -> None:
    data = settings(COMMAND)
    assert json.loads(json.dumps(data)) == data


@PROPERTY
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=5))
def test_the_hook_command_line_splits_back_into_the_argv(command: list[str]) -> None:
    hooks = settings(command)["hooks"]
    for event, entries in hooks.items():
        assert shlex.split(entries[0]["hooks"][0]["command"]) == [*command, event]
