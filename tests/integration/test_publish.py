"""Publishing a Succeeded worker: its branch pushed to a bare remote (real git), its
pull request opened through a fake `gh` on PATH that records its argv."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

TITLE = "{{ worker }}: work on {{ branch }}"


def calls(forge: Path) -> list[list[str]]:
    path = forge / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def creates(forge: Path) -> list[list[str]]:
    return [c for c in calls(forge) if c[1:3] == ["pr", "create"]]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def remote(fleet: Any) -> Path:
    """A bare repository as the hosting side; the worker's repo pushes to it as origin."""
    bare = fleet.tmp / "remote.git"
    fleet.git(fleet.tmp, "init", "-q", "--bare", str(bare))
    fleet.git(fleet.repo, "remote", "add", "origin", str(bare))
    fleet.git(fleet.repo, "push", "-q", "origin", "main")
    return bare


def succeeded_and_published(fleet: Any, retry_until: Any) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        fleet.reconcile(check=False)
        state = fleet.state("w1")
        done = state["phase"] == "Succeeded" and (state["published"] or state["publish_error"])
        return state if done else None

    return retry_until(probe, 30, 0.2, "w1 never Succeeded and published")


def setup_fleet(fleet: Any, publish: dict[str, Any]) -> None:
    fleet.base("commit_exit0.sh", stages=[fleet.stage("work", done_when="exit0")])
    fleet.workers({"w1": {"publish": publish}})


def test_push_lands_on_the_remote_and_one_pull_request_is_opened(
    fleet: Any, fake_forge: Path, retry_until: Any
) -> None:
    bare = remote(fleet)
    pr = {"title": TITLE, "body": "Done: {{ vars.goal }}", "draft": True, "base": "main"}
    setup_fleet(fleet, {"push": True, "pullRequest": pr})
    fleet.workers({"w1": {"publish": {"pullRequest": pr}, "vars": {"goal": "tidy"}}})
    state = succeeded_and_published(fleet, retry_until)
    tip = fleet.git(fleet.repo, "rev-parse", "orch/w1").stdout.strip()
    assert fleet.git(bare, "rev-parse", "orch/w1").stdout.strip() == tip
    assert state["published"] == tip
    assert state["pr_url"] == "https://forge.example/o/r/pull/1"
    [create] = creates(fake_forge)
    assert option(create, "--title") == "w1: work on orch/w1"
    assert option(create, "--body") == "Done: tidy"
    assert option(create, "--base") == "main"
    assert option(create, "--head") == "orch/w1"
    assert "--draft" in create
    row = fleet.status()["w1"]
    assert (row["phase"], row["pullRequest"]) == ("Succeeded", state["pr_url"])
    assert "pull request https://forge.example/o/r/pull/1" in row["reason"]

    # a later commit is pushed again; the open request is found, not opened twice
    worktree = fleet.worktree("w1")
    fleet.git(worktree, "commit", "-q", "--allow-empty", "-m", "one more")
    before = len(calls(fake_forge))
    tip2 = fleet.git(worktree, "rev-parse", "HEAD").stdout.strip()
    retry_until(lambda: fleet.reconcile(check=False) and fleet.state("w1")["published"] == tip2,
                20, 0.2, "the new commit was not pushed")  # fmt: skip
    assert fleet.git(bare, "rev-parse", "orch/w1").stdout.strip() == tip2
    later = calls(fake_forge)[before:]
    assert [c[1:3] for c in later] == [["pr", "list"]]
    assert len(creates(fake_forge)) == 1


def test_the_default_body_is_the_run_report(
    fleet: Any, fake_forge: Path, retry_until: Any
) -> None:
    remote(fleet)
    setup_fleet(fleet, {"pullRequest": {}})
    succeeded_and_published(fleet, retry_until)
    [create] = creates(fake_forge)
    body = option(create, "--body")
    assert body.startswith("# w1: Succeeded\n")
    assert "fake agent: work of w1" in body  # the commit, listed
    assert "work-w1.txt" in body  # diff --stat
    assert "work: wrote work-w1.txt" in body  # the last summary
    assert option(create, "--title") == "w1: orch/w1"
    assert "--draft" not in create


def test_a_failed_push_is_the_reason_the_phase_stays_succeeded_and_it_is_retried(
    fleet: Any, fake_forge: Path, retry_until: Any
) -> None:
    bare = remote(fleet)
    fleet.git(fleet.repo, "remote", "remove", "origin")
    setup_fleet(fleet, {"push": True})
    state = succeeded_and_published(fleet, retry_until)
    assert state["phase"] == "Succeeded"
    assert state["publish_errors"] == 1
    assert "no remote to push orch/w1 to" in state["publish_error"]
    row = fleet.status()["w1"]
    assert row["phase"] == "Succeeded"
    assert "publish failed: publish: no remote" in row["reason"]
    assert "retry in" in row["reason"]
    fleet.reconcile(check=False)  # within the backoff: not tried again
    assert fleet.state("w1")["publish_errors"] == 1

    fleet.git(fleet.repo, "remote", "add", "origin", str(bare))
    later = time.time() + 3600  # past the backoff
    state = retry_until(lambda: fleet.reconcile(check=False, clock=lambda: later)
                        and fleet.state("w1")["published"] and fleet.state("w1"),
                        20, 0.2, "the push was not retried")  # fmt: skip
    assert (state["phase"], state["publish_errors"], state["publish_error"]) == ("Succeeded", 0, "")
    tip = fleet.git(fleet.repo, "rev-parse", "orch/w1").stdout.strip()
    assert fleet.git(bare, "rev-parse", "orch/w1").stdout.strip() == tip
    assert calls(fake_forge) == []  # push only: no pull request asked for


def test_a_gitlab_remote_gets_a_merge_request_through_glab(
    fleet: Any, fake_forge: Path, retry_until: Any
) -> None:
    bare = fleet.tmp / "gitlab.example" / "shop.git"  # the remote's URL names its host
    bare.parent.mkdir()
    fleet.git(fleet.tmp, "init", "-q", "--bare", str(bare))
    fleet.git(fleet.repo, "remote", "add", "origin", str(bare))
    setup_fleet(fleet, {"pullRequest": {"title": "{{ worker }} done", "body": "see the branch"}})
    state = succeeded_and_published(fleet, retry_until)
    assert state["pr_url"] == "https://forge.example/o/r/pull/1"
    assert [c[:3] for c in calls(fake_forge)] == [["glab", "mr", "list"], ["glab", "mr", "create"]]
    list_, create = calls(fake_forge)
    assert option(list_, "--source-branch") == "orch/w1"
    assert option(create, "--target-branch") == "main"
    assert option(create, "--title") == "w1 done"
    assert option(create, "--description") == "see the branch"
    assert "--yes" in create and "--draft" not in create
