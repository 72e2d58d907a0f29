"""orch running real Claude Code workers (the pinned CLI) against the scripted stub API.

Each test writes a fleet whose Agent is the built-in ``claude`` profile pointed
at the stub, drives the reconciler pass by pass as `orch reconcile --watch`
would, and checks what the agent did in git, what orch recorded, and what the
stub received. The stub's lanes are keyed by "Worker <name>," (in every prompt).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from claude_run import TEST_API_KEY

from reconciler.stubapi import Lane, StubAPI, bash, error, hang, text

pytestmark = pytest.mark.e2e
Fleet = Any  # tests/integration/conftest.py:Fleet
PROMPT = """\
Worker {{ worker }}, stage {{ stage }} of {{ stages | join(", ") }}, attempt {{ attempt }}.
When the stage is done, write the file {{ signal_file }}.
"""


def signal(stage: str, extra: str = "") -> str:
    """A Bash step: optional work, then the stage's signal file (cwd is the worktree)."""
    done = f"mkdir -p .orch/signals && touch .orch/signals/{stage}.done"
    return f"{extra} && {done}" if extra else done


def commit(name: str) -> str:
    return f"echo {name} > {name}.txt && git add {name}.txt && git commit -qm 'add {name}'"


def setup_fleet(
    fleet: Fleet,
    claude_bin: Path,
    stub: StubAPI,
    workers: dict[str, dict[str, Any]],
    *,
    stages: tuple[str, ...] = ("plan", "build"),
    stall: str = "20s",
    config: str = "",
    agent: dict[str, Any] | None = None,
) -> None:
    config_dir = fleet.tmp / "claude-config"
    config_dir.mkdir(exist_ok=True)
    fleet.write("playbooks/prompts/stage.md.j2", PROMPT)
    fleet.write(
        "config/orch.yaml",
        f"tmux:\n  socket: {fleet.socket}\n  session: orch\n"
        "reconcile:\n  stopGrace: 2s\n  startInterval: 0s\n" + config,
    )
    env = {
        "PATH": f"{claude_bin.parent}:${{PATH}}",
        "ANTHROPIC_BASE_URL": stub.url,
        "ANTHROPIC_API_KEY": TEST_API_KEY,
        "CLAUDE_CONFIG_DIR": str(config_dir),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": "2",
    }
    docs = [
        fleet.document("Repo", "app", {"path": str(fleet.repo), "defaultBranch": "main"}),
        fleet.document("Agent", "claude", {"profile": "claude", "env": env, **(agent or {})}),
        fleet.document(
            "Pipeline",
            "p",
            {"stages": [fleet.stage(s, stallTimeout=stall, timeout="5m") for s in stages]},
        ),
    ]
    policy = {"maxRestarts": 2, "backoff": {"initial": "1s", "max": "2s"}}
    for name, extra in workers.items():
        spec = {"repo": "app", "pipeline": "p", "agent": "claude", "restartPolicy": policy}
        docs.append(fleet.document("Worker", name, {**spec, **extra}))
    fleet.write("specs/fleet.yaml", fleet.dump(*docs))


def drive(fleet: Fleet, done: Callable[[], bool], seconds: float = 90) -> None:
    """Reconcile pass after pass (as the watcher does) until ``done()`` or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fleet.reconcile(check=False)
        if done():
            return
        time.sleep(0.3)
    rows = {n: (r["phase"], r["reason"]) for n, r in fleet.status().items()}
    raise AssertionError(f"not done after {seconds}s: {rows}")


def phase(fleet: Fleet, name: str) -> str:
    return str(fleet.status()[name]["phase"])


def status_json(fleet: Fleet) -> dict[str, dict[str, Any]]:
    done = fleet.cli("status", "--json")
    assert done.returncode == 0, done.stderr
    return {r["name"]: r for r in json.loads(done.stdout)["workers"]}


def branch_log(fleet: Fleet, branch: str) -> list[str]:
    out = fleet.git(fleet.repo, "log", "--format=%s", f"main..{branch}").stdout
    return out.splitlines()


# -- (a) two stages, commits, cost and session --------------------------------------------


def test_two_stages_each_commit_and_signal_then_succeed(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI
) -> None:
    stub_api.set_script({
        "Worker w1,": [bash(signal("plan", commit("one"))), text("plan done"),
                       bash(signal("build", commit("two"))), text("build done")],
    })  # fmt: skip
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}})

    drive(fleet, lambda: phase(fleet, "w1") == "Succeeded")

    assert branch_log(fleet, "orch/w1") == ["add two", "add one"]
    row = status_json(fleet)["w1"]
    assert row["costUsd"] is not None and row["costUsd"] > 0  # summed over both stages
    assert row["sessionId"]
    state = fleet.state("w1")
    assert set(state["costs"]) == {"plan#1", "build#1"}
    assert TEST_API_KEY not in (fleet.root / "state" / "events.jsonl").read_text()
    hooks = (fleet.worktree("w1") / ".orch" / "hooks.jsonl").read_text()
    assert '"event": "PreToolUse"' in hooks and '"event": "SessionStart"' in hooks


# -- (b) a hang: stall, the same session resumed with the restart summary ---------------------


def test_a_hang_is_a_stall_and_the_session_is_resumed_with_a_summary(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI
) -> None:
    stub_api.set_script({
        "Worker w1,": [bash(commit("before-hang")), hang(),
                       bash(signal("plan")), text("resumed and done")],
    })  # fmt: skip
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}}, stages=("plan",), stall="4s")

    drive(fleet, lambda: phase(fleet, "w1") == "Succeeded", seconds=120)

    state = fleet.state("w1")
    assert state["attempt"] == 2 and state["restarts"] == 1
    first_session = [r for r in stub_api.message_requests if r.lane == "Worker w1,"]
    resumed = first_session[-2].last_user_text()  # the request after the restart
    assert "stalled" in resumed and "add before-hang" in resumed  # the summary, as the prompt
    assert state["session_id"]
    events = (fleet.root / "state" / "events.jsonl").read_text()
    assert '"resumed"' in events  # started with --resume <the same session>


# -- (c) the API fails every time: crash loop, Failed with the API error ----------------------


def test_an_api_failing_every_time_ends_failed_with_its_error(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI
) -> None:
    stub_api.set_script([Lane((), marker="Worker w1,", then=error(500))])
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}}, stages=("plan",))

    drive(fleet, lambda: phase(fleet, "w1") == "Failed", seconds=120)

    reason = fleet.status()["w1"]["reason"]
    assert "API error: API Error: 500" in reason and "gave up after 2 restart(s)" in reason


# -- (d) removed mid-run: stopped, its uncommitted file in the backup ---------------------------


def test_a_worker_removed_mid_run_is_stopped_and_its_work_saved(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI, retry_until: Callable[..., Any]
) -> None:
    stub_api.set_script({"Worker w1,": [bash("echo draft > wip.txt"), hang()]})
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}, "w2": {}})
    fleet.reconcile()
    retry_until((fleet.worktree("w1") / "wip.txt").exists, 60, message="the agent's draft")

    setup_fleet(fleet, claude_bin, stub_api, {"w2": {}})
    result = fleet.reconcile(check=False)

    verbs = [(e.verb, e.worker) for e in result.events if e.worker == "w1"]
    assert verbs[:2] == [("stop-agent", "w1"), ("remove-worktree", "w1")]
    [removal] = [e for e in result.events if e.verb == "remove-worktree"]
    ref = removal.detail["backup"]
    assert fleet.git(fleet.repo, "show", f"{ref}:wip.txt").stdout == "draft\n"


# -- (e) the Stop hook holds the agent to its stage ---------------------------------------------


def test_the_stop_hook_sends_the_agent_back_to_write_its_signal(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI
) -> None:
    stub_api.set_script({
        "Worker w1,": [text("I believe I am done."), bash(signal("plan")), text("now done")],
    })  # fmt: skip
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}}, stages=("plan",))

    drive(fleet, lambda: phase(fleet, "w1") == "Succeeded")

    asked = [r.last_user_text() for r in stub_api.message_requests if r.lane == "Worker w1,"]
    assert asked[1].startswith("Stop hook feedback:") and "plan.done" in asked[1]
    state = fleet.state("w1")
    assert (state["attempt"], state["restarts"]) == (1, 0)  # the same run went on
    hooks = (fleet.worktree("w1") / ".orch" / "hooks.jsonl").read_text()
    assert hooks.count('"nudged": true') == 1


# -- (f) a usage limit pauses the account; a probe; both succeed -------------------------------


def test_a_usage_limit_pauses_the_account_then_a_probe_goes_first(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI
) -> None:
    stub_api.set_script({
        "Worker w1,": [error(429), bash(signal("plan")), text("done")],
        "Worker w2,": [bash(signal("plan")), text("done")],
    })  # fmt: skip
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}}, stages=("plan",),
                config="limits:\n  pause: 20s\n")  # fmt: skip
    drive(fleet, lambda: phase(fleet, "w1") == "Limited", seconds=60)
    limited_at = time.time()
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}, "w2": {}}, stages=("plan",),
                config="limits:\n  pause: 20s\n")  # fmt: skip

    fleet.reconcile(check=False)
    row = fleet.status()["w2"]
    assert row["phase"] == "Limited" and "starts paused until" in row["reason"]
    assert not [r for r in stub_api.message_requests if r.lane == "Worker w2,"]

    drive(fleet, lambda: phase(fleet, "w1") == "Succeeded" and phase(fleet, "w2") == "Succeeded",
          seconds=90)  # fmt: skip
    first_w2 = next(r for r in stub_api.message_requests if r.lane == "Worker w2,")
    assert first_w2.at >= limited_at - 1 + 18  # not before the pause ended
    assert fleet.state("w1")["restarts"] == 0  # a usage limit is not a crash


# -- (g) a long tool call is not a stall ----------------------------------------------------------


def test_a_long_silent_tool_call_is_not_a_stall(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI
) -> None:
    stub_api.set_script({"Worker w1,": [bash(signal("plan", "sleep 9")), text("done")]})
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}}, stages=("plan",), stall="4s")

    drive(fleet, lambda: phase(fleet, "w1") == "Succeeded", seconds=60)

    state = fleet.state("w1")
    assert (state["attempt"], state["restarts"]) == (1, 0)
