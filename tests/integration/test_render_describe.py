"""`orch render` and `orch describe` against a real fleet (real tmux, real git, the real CLI).

render must print exactly what the agent then receives: the fake agent
tests/agents/record_prompt.sh records its stdin (the prompt) and its argv.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Retry = Callable[..., Any]


def rendered(fleet: Any, *args: str) -> dict[str, Any]:
    done = fleet.cli("render", *args, "--json")
    assert done.returncode == 0, done
    return json.loads(done.stdout)


def test_render_prints_what_the_agent_then_receives(fleet: Any, retry_until: Retry) -> None:
    fleet.base("record_prompt.sh", args=["--flag", "{{ stage }} of {{ worker }}"],
               stages=[fleet.stage("plan"), fleet.stage("build")])  # fmt: skip
    fleet.workers({"w1": {"vars": {"topic": "tidy up"}}})

    first = rendered(fleet, "w1")
    assert (first["stage"], first["attempt"], first["restart"]) == ("plan", 1, False)
    assert not fleet.worktree("w1").exists()  # nothing was started or written
    assert not (fleet.root / "state" / "logs").exists()
    fleet.reconcile()
    received = retry_until(fleet.received("w1", "plan", 1), seconds=20, message="plan 1 prompt")
    assert received == first["prompt"]
    assert "var topic = tidy up" in received
    assert fleet.received_args("w1", "plan", 1) == first["argv"][2:]  # after `sh script`
    assert first["argv"][2:] == ["--flag", "plan of w1"]
    assert first["promptFile"] == fleet.state("w1")["log"].replace(".log", ".prompt.md")

    # The restart prompt `orch restart` gives: the summary of the worktree as it is now.
    again = rendered(fleet, "w1", "--restart")
    assert (again["stage"], again["attempt"], again["restart"]) == ("plan", 2, True)
    assert "restart requested" in again["prompt"]
    assert fleet.cli("restart", "w1").returncode == 0
    received = retry_until(fleet.received("w1", "plan", 2), seconds=20, message="plan 2 prompt")
    assert received == again["prompt"]

    text = fleet.cli("render", "w1", "--stage", "build")
    assert text.returncode == 0, text
    assert text.stdout.startswith("# w1: stage build, attempt #1, agent fake\n")
    assert text.stdout.endswith(rendered(fleet, "w1", "--stage", "build")["prompt"])


def test_render_unknown_worker_or_stage_exits_1_naming_what_exists(fleet: Any) -> None:
    fleet.base("sleep.sh", stages=[fleet.stage("plan"), fleet.stage("build")])
    fleet.workers(["alpha", "beta"])
    done = fleet.cli("render", "alpah")
    assert done.returncode == 1, done
    assert 'no worker "alpah"' in done.stderr and "did you mean alpha" in done.stderr
    done = fleet.cli("render", "alpha", "--stage", "deploy")
    assert done.returncode == 1, done
    assert 'no stage "deploy"; its stages: plan, build' in done.stderr


def test_describe_shows_spec_branch_attempts_backups_events_and_logs(
    fleet: Any, retry_until: Retry
) -> None:
    fleet.base("sleep.sh", stages=[fleet.stage("plan"), fleet.stage("build")])
    fleet.workers({"w1": {"vars": {"topic": "tidy"}}})
    fleet.reconcile()
    assert fleet.cli("restart", "w1").returncode == 0  # plan #1 replaced by plan #2
    worktree = fleet.worktree("w1")
    fleet.git(worktree, "commit", "-q", "--allow-empty", "-m", "work")
    (worktree / ".orch" / "signals" / "plan.done").write_text("")
    fleet.reconcile()  # stops plan #2, starts build #1

    done = fleet.cli("describe", "w1", "--json")
    assert done.returncode == 0, done
    out = json.loads(done.stdout)
    assert out["spec"]["stages"] == ["plan", "build"] and out["spec"]["vars"] == {"topic": "tidy"}
    assert out["spec"]["source"].startswith("specs/workers.yaml:")
    assert (out["worktree"], out["branch"], out["base"]) == (str(worktree), "orch/w1", "main")
    assert (out["ahead"], out["behind"]) == (1, 0)
    assert [(a["stage"], a["attempt"], a["outcome"]) for a in out["attempts"]] == [
        ("plan", 1, "restarted"), ("plan", 2, "done"), ("build", 1, "running"),
    ]  # fmt: skip
    assert out["attempts"][0]["reason"] == "restart requested"
    assert all(a["start"] for a in out["attempts"])
    assert all(a["end"] for a in out["attempts"][:2]) and out["attempts"][2]["end"] is None
    assert [Path(log["path"]).name for log in out["logs"]] == ["plan-1.log", "plan-2.log",
                                                                "build-1.log"]  # fmt: skip
    assert out["events"][-1]["verb"] == "start-agent" and out["events"][-1]["stage"] == "build"
    assert out["backups"] == []
    assert (out["restarts"], out["restartsTotal"]) == (0, 1)

    assert fleet.cli("cleanup", "w1", "--yes").returncode == 0
    out = json.loads(fleet.cli("describe", "w1", "--json").stdout)
    assert len(out["backups"]) == 1
    assert out["backups"][0]["ref"].startswith("refs/orch/backups/w1/")
    head = fleet.git(fleet.repo, "rev-parse", "orch/w1").stdout.strip()
    assert out["backups"][0]["commit"] == head  # a clean worktree: the backup is its HEAD
    assert out["attempts"][-1]["outcome"] == "removed"

    text = fleet.cli("describe", "w1").stdout
    for heading in ("Name:      w1", "Branch:    orch/w1 (base main): 1 ahead, 0 behind",
                    "Attempts:", "Backups:", "  refs/orch/backups/w1/", "Logs:", "Events:"):
        assert heading in text, (heading, text)  # fmt: skip

    done = fleet.cli("describe", "w2")
    assert done.returncode == 1, done
    assert 'no worker "w2"' in done.stderr and "did you mean w1" in done.stderr


def test_describe_a_crashed_attempt_is_failed_with_its_reason(
    fleet: Any, retry_until: Retry
) -> None:
    fleet.base("crash.sh")
    fleet.workers(["w1"])
    fleet.reconcile()
    retry_until(fleet.dead_window("w1"), seconds=20, message="the agent to crash")
    fleet.reconcile()  # sees the crash: Backoff

    out = json.loads(fleet.cli("describe", "w1", "--json").stdout)
    [first] = out["attempts"]
    assert (first["stage"], first["attempt"], first["outcome"]) == ("work", 1, "failed")
    assert "exit" in first["reason"] and first["end"]
    # The phase event names the attempt it ended.
    backoff = [e for e in out["events"] if e["verb"] == "phase Backoff"]
    assert backoff and (backoff[0]["stage"], backoff[0]["attempt"]) == ("work", 1)
