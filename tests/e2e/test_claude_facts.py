"""Facts of docs/claude-code-facts.md that orch builds on, pinned against the real CLI.

Stop-hook feedback, resume, the budget and the usage-limit message: if a new
CLI version changes one of them, these tests say which.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from claude_run import ClaudeRun, HookRecorder

from reconciler.stubapi import Lane, StubAPI, bash, error, text

pytestmark = pytest.mark.e2e

PROMPT = "Worker w1, stage build: go."


@pytest.mark.stub_script([text("First answer."), text("Second answer.")])
def test_a_blocking_stop_hook_sends_its_reason_as_the_next_prompt(
    run_claude: Callable[..., ClaudeRun], stub_api: StubAPI, git_repo: Path, hooks: HookRecorder
) -> None:
    hooks.block_stop("orch: run the tests before you stop")
    run = run_claude(PROMPT, git_repo, "--settings", str(hooks.settings))

    assert run.returncode == 0 and run.result["is_error"] is False
    assert run.result["num_turns"] == 2 and run.result["result"] == "Second answer."
    _, second = stub_api.message_requests
    assert second.last_user_text() == "Stop hook feedback:\norch: run the tests before you stop"
    assert [e["stop_hook_active"] for e in hooks.events("Stop")] == [False, True]
    assert [e["hook_event_name"] for e in hooks.events()] == [
        "SessionStart",
        "UserPromptSubmit",
        "Stop",
        "Stop",
        "SessionEnd",
    ]
    assert run.of_type("system", "notification")[0]["key"] == "stop-hook-error"


@pytest.mark.stub_script({"Worker w1,": [bash("echo one"), text("First done."), text("Resumed.")]})
def test_resume_in_the_same_folder_keeps_the_session_and_repeats_the_conversation(
    run_claude: Callable[..., ClaudeRun], stub_api: StubAPI, git_repo: Path, hooks: HookRecorder
) -> None:
    first = run_claude(PROMPT, git_repo)
    session = first.result["session_id"]
    again = run_claude(
        "Restart summary: attempt 2.",
        git_repo,
        "--resume",
        session,
        "--settings",
        str(hooks.settings),
    )

    assert again.returncode == 0 and again.init["session_id"] == session
    assert again.result["total_cost_usd"] < first.result["total_cost_usd"]  # this run's only
    last = stub_api.message_requests[-1]
    assert last.lane == "Worker w1,"  # the first prompt's marker is still in the request
    assert last.last_user_text() == "Restart summary: attempt 2."
    assert [m["role"] for m in last.messages if m["role"] != "system"] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert "one" in last.text()  # the earlier tool result
    (start,) = hooks.events("SessionStart")
    assert start["source"] == "resume" and Path(start["transcript_path"]).name == f"{session}.jsonl"


@pytest.mark.stub_script(Lane(tuple(bash(f"echo {n} >> steps.txt") for n in range(5))))
def test_the_budget_stops_the_run_after_the_response_that_crosses_it(
    run_claude: Callable[..., ClaudeRun], stub_api: StubAPI, git_repo: Path
) -> None:
    run = run_claude(PROMPT, git_repo, "--max-budget-usd", "0.01")  # $0.00625 a step

    assert run.returncode == 1 and len(stub_api.message_requests) == 2
    result = run.result
    assert result["is_error"] is True and result["subtype"] == "error_max_budget_usd"
    assert result["errors"] == ["Reached maximum budget ($0.01)"]
    assert result["total_cost_usd"] == pytest.approx(0.0125)
    # The tool call of the response that crossed the budget may or may not run (a race).
    assert (git_repo / "steps.txt").read_text() in ("0\n", "0\n1\n")


RESET = 1900000000  # epoch seconds, in the 429's anthropic-ratelimit-unified-reset


@pytest.mark.stub_script(
    Lane((), then=error(429, headers={"anthropic-ratelimit-unified-reset": str(RESET)}))
)
def test_a_usage_limit_says_when_it_resets_only_under_subscription_auth(
    run_claude: Callable[..., ClaudeRun], stub_api: StubAPI, git_repo: Path, hooks: HookRecorder
) -> None:
    oauth = {"ANTHROPIC_API_KEY": None, "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-stub"}
    limited = run_claude(PROMPT, git_repo, "--settings", str(hooks.settings), env=oauth)
    keyed = run_claude(PROMPT, git_repo)

    (event,) = limited.of_type("rate_limit_event")
    info = event["rate_limit_info"]
    assert (info["status"], info["resetsAt"], info["rateLimitType"]) == (
        "rejected",
        RESET,
        "five_hour",
    )
    assert limited.returncode == 1 and limited.result["api_error_status"] == 429
    assert limited.result["result"].startswith("You've hit your limit · resets ")
    (failure,) = hooks.events("StopFailure")
    assert failure["error"] == "rate_limit"
    assert stub_api.message_requests[0].api_key == "sk-ant-oat01-stub"  # a bearer token

    assert keyed.returncode == 1 and keyed.of_type("rate_limit_event") == []
    assert keyed.result["result"].startswith("API Error: Request rejected (429) · ")
    assert len(stub_api.message_requests) == 2  # no retry under either auth
