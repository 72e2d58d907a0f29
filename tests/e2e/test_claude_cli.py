"""The real Claude Code CLI, run directly (not through orch yet) against the stub API."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from claude_run import TEST_API_KEY, ClaudeRun

from reconciler.stubapi import Step, StubAPI, bash, error, text

pytestmark = pytest.mark.e2e

PROMPT = "Worker w1, stage build (1 of 1): write hello.txt and commit it."
COMMAND = (
    "printf 'hello from the agent\\n' > hello.txt && git add hello.txt"
    " && git commit -q -m 'Add hello.txt' && git rev-parse HEAD"
)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.mark.stub_script(
    {"Worker w1,": [bash(COMMAND, "Write and commit hello.txt", text="Writing it."), text("Done.")]}
)
def test_a_bash_step_commits_in_the_repo_then_the_turn_ends(
    run_claude: Callable[..., ClaudeRun],
    stub_api: StubAPI,
    git_repo: Path,
    claude_env: dict[str, str],
) -> None:
    run = run_claude(PROMPT, git_repo)

    assert run.returncode == 0, run.stderr
    assert (git_repo / "hello.txt").read_text() == "hello from the agent\n"
    head = git(git_repo, "rev-parse", "HEAD")
    assert git(git_repo, "log", "-1", "--format=%s") == "Add hello.txt"
    assert git(git_repo, "status", "--porcelain") == ""

    session = run.init["session_id"]
    assert run.init["cwd"] == str(git_repo) and "Bash" in run.init["tools"]
    result = run.result
    assert result["subtype"] == "success" and result["is_error"] is False
    assert result["num_turns"] == 2 and result["result"] == "Done."
    assert result["session_id"] == session and result["total_cost_usd"] > 0
    (tool_result,) = [
        block
        for line in run.of_type("user")
        for block in line["message"]["content"]
        if block.get("type") == "tool_result"
    ]
    assert tool_result["is_error"] is False and tool_result["content"] == head

    first, second = stub_api.message_requests
    assert (first.lane, second.lane) == ("Worker w1,", "Worker w1,")
    assert first.last_user_text().endswith(PROMPT)
    assert second.last_user_text() == head  # the tool's output, as the agent sent it
    assert first.api_key == TEST_API_KEY and "Bash" in first.tool_names
    assert first.body["stream"] is True
    assert stub_api.remaining() == {"Worker w1,": 0}
    # The transcript lives under the test's config folder, keyed by the cwd.
    config = Path(claude_env["CLAUDE_CONFIG_DIR"])
    assert list(config.glob(f"projects/*/{session}.jsonl"))


@pytest.mark.stub_script([error(500)] * 3)
def test_an_api_error_after_the_retries_is_an_error_result_with_subtype_success(
    run_claude: Callable[..., ClaudeRun], stub_api: StubAPI, git_repo: Path
) -> None:
    run = run_claude(PROMPT, git_repo)

    assert run.returncode == 1
    assert len(stub_api.message_requests) == 3  # 1 try + CLAUDE_CODE_MAX_RETRIES=2
    assert [x["error_status"] for x in run.of_type("system", "api_retry")] == [500, 500]
    result = run.result
    assert result["is_error"] is True and result["subtype"] == "success"
    assert result["api_error_status"] == 500 and result["result"].startswith("API Error: 500")


def commit_step(name: str) -> list[Step]:
    command = (
        f"echo {name} > who.txt && git add who.txt && git commit -q -m {name} && echo {name}-ok"
    )
    return [bash(command), text(f"{name} done")]


@pytest.mark.stub_script({"Worker w1,": commit_step("w1"), "Worker w2,": commit_step("w2")})
def test_two_agents_at_once_share_one_stub_each_on_its_own_lane(
    run_claude: Callable[..., ClaudeRun], stub_api: StubAPI, git_repo: Path, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(git_repo), str(clone)], check=True)
    cwds = {"w1": git_repo, "w2": clone}
    with ThreadPoolExecutor(2) as pool:
        futures = {n: pool.submit(run_claude, f"Worker {n}, go.", cwd) for n, cwd in cwds.items()}
        runs = {n: f.result() for n, f in futures.items()}

    for name, cwd in cwds.items():
        assert runs[name].returncode == 0, runs[name].stderr
        assert runs[name].result["result"] == f"{name} done"
        assert (cwd / "who.txt").read_text() == f"{name}\n"
        assert git(cwd, "log", "-1", "--format=%s") == name
    assert stub_api.remaining() == {"Worker w1,": 0, "Worker w2,": 0}
    first = {r.lane: r.last_user_text() for r in stub_api.message_requests[::-1]}
    assert first["Worker w1,"].endswith("\nWorker w1, go.")
    assert first["Worker w2,"].endswith("\nWorker w2, go.")
