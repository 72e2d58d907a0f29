"""`orch send`, `orch takeover`, `orch release` with fake agents in a real tmux server.

An interactive agent (``interactive: true``) gets its prompt as its last
argument and reads its pane's terminal (tests/agents/type_here.sh records what
was typed). Taken-over workers are left alone by every pass, also once removed
from the specs, until `orch release`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
Retry = Callable[..., Any]


def interactive_fleet(fleet: Fleet, script_name: str = "type_here.sh") -> None:
    """Agent ``fake`` runs ``script_name`` interactively; worker w1 uses it."""
    script = str(fleet.agents_dir / script_name)
    docs = [
        fleet.document("Repo", fleet.repo_name, {"path": str(fleet.repo), "defaultBranch": "main"}),
        fleet.document("Agent", "fake", {"command": ["sh", script, "--flag"], "interactive": True}),
        fleet.document("Pipeline", "p", {"stages": [fleet.stage("work")]}),
    ]
    fleet.write("specs/base.yaml", fleet.dump(*docs))
    fleet.workers(["w1"])


def test_send_types_into_an_interactive_agent_which_got_its_prompt_as_last_argument(
    fleet: Fleet, retry_until: Retry
) -> None:
    interactive_fleet(fleet)
    fleet.write("playbooks/prompts/stage.md.j2",
                "Worker {{ worker }}, line one\nline 'two' with $HOME and \"quotes\"\nEND\n")
    fleet.reconcile()
    typed = fleet.worktree("w1") / ".orch" / "typed"
    arg = retry_until(lambda: (typed / "prompt-arg.txt").exists()
                      and (typed / "prompt-arg.txt").read_text(), 10)  # fmt: skip
    assert arg == "Worker w1, line one\nline 'two' with $HOME and \"quotes\"\nEND"
    done = fleet.cli("send", "w1", "yes; do it -- now")
    assert done.returncode == 0, done
    assert "sent to w1" in done.stdout
    lines = typed / "lines.txt"
    assert retry_until(lambda: lines.exists() and lines.read_text(), 10) == "yes; do it -- now\n"


def test_a_first_run_question_on_the_screen_is_needs_input_until_answered(
    fleet: Fleet, retry_until: Retry
) -> None:
    interactive_fleet(fleet, "first_run_screen.sh")
    fleet.reconcile()
    retry_until(lambda: fleet.status()["w1"]["phase"] == "NeedsInput", 15, message="NeedsInput")
    row = fleet.status()["w1"]
    assert "waits for a person: Do you trust the files in this folder?" in row["reason"]
    fleet.reconcile(once=True)
    assert fleet.state("w1")["phase"] == "NeedsInput"
    assert fleet.cli("send", "w1", "1").returncode == 0
    signal = fleet.worktree("w1") / ".orch" / "signals" / "work.done"
    retry_until(signal.exists, 10, message="the stage, done once answered")
    fleet.reconcile()
    assert fleet.status()["w1"]["phase"] == "Succeeded"


def test_send_refuses_a_headless_worker_and_an_unknown_one(fleet: Fleet) -> None:
    fleet.base()
    fleet.workers(["w1"])
    fleet.reconcile()
    done = fleet.cli("send", "w1", "hello")
    assert done.returncode == 1
    assert "runs headless" in done.stderr and "orch takeover w1" in done.stderr
    assert fleet.cli("send", "nobody", "x").returncode != 0


def test_takeover_leaves_the_worker_alone_until_release(
    fleet: Fleet, retry_until: Retry
) -> None:
    fleet.base()
    fleet.workers(["w1"])
    fleet.reconcile()
    done = fleet.cli("takeover", "w1")
    assert done.returncode == 0, done
    assert f"attach with: tmux -L {fleet.socket} attach -t {fleet.session}:" in done.stdout
    assert fleet.state("w1")["taken_over"] is True
    assert fleet.status()["w1"]["phase"] == "TakenOver"
    # Its agent exits (a person ended it): no restart, no backoff, no teardown.
    os.kill(int(fleet.window("w1")["pane_pid"]), 9)
    retry_until(lambda: (w := fleet.window("w1")) and w["pane_dead"] == "1", 10)
    result = fleet.reconcile(once=True)
    assert [e for e in result.events if e.worker == "w1"] == []
    assert fleet.status()["w1"]["phase"] == "TakenOver"
    assert fleet.cli("takeover", "w1").stdout.startswith("w1 is already taken over")
    # cleanup refuses it unless forced
    refused = fleet.cli("cleanup", "w1", "--yes")
    assert refused.returncode == 1 and "taken over by a person" in refused.stderr
    released = fleet.cli("release", "w1")
    assert released.returncode == 0, released
    assert "release" in released.stdout
    state = fleet.state("w1")
    assert (state["taken_over"], state["phase"]) == (False, "Running")
    result = fleet.reconcile(once=True)  # supervised again: the dead agent is dealt with
    assert any(e.worker == "w1" for e in result.events)
    journal = (fleet.root / "state" / "events.jsonl").read_text()
    events = [json.loads(x) for x in journal.splitlines()]
    verbs = [e["verb"] for e in events if e["worker"] == "w1"]
    assert verbs.index("take-over") < verbs.index("release")


def test_removed_while_taken_over_waits_for_release_then_is_saved_and_removed(
    fleet: Fleet, retry_until: Retry
) -> None:
    fleet.base()
    fleet.workers(["w1", "w2", "w3"])
    fleet.reconcile()
    assert fleet.cli("takeover", "w1").returncode == 0
    (fleet.worktree("w1") / "by-hand.txt").write_text("a person's work\n")
    fleet.workers(["w2", "w3"])
    fleet.reconcile(once=True)
    assert fleet.window("w1") is not None and fleet.worktree("w1").exists()
    assert fleet.status()["w1"]["phase"] == "TakenOver"
    assert "orch release w1" in fleet.status()["w1"]["reason"]
    assert fleet.cli("release", "w1").returncode == 0
    fleet.reconcile()
    retry_until(lambda: not fleet.worktree("w1").exists(), 15)
    saved = fleet.git(fleet.repo, "for-each-ref", "--format=%(refname)", "refs/orch/backups/w1")
    assert saved.stdout.strip(), "the work of the taken-over worker was saved before removal"


def test_takeover_and_release_through_a_running_watcher(
    fleet: Fleet, watch_thread: Callable[[], Any], retry_until: Retry
) -> None:
    fleet.settings("resync: 30s, debounce: 100ms")
    fleet.base()
    fleet.workers(["w1"])
    watch_thread()
    retry_until(lambda: (w := fleet.window("w1")) and w["pane_dead"] == "0", 20)
    done = fleet.cli("takeover", "w1", "--no-attach")
    assert done.returncode == 0, done
    assert "take-over" in done.stdout
    assert fleet.state("w1")["taken_over"] is True
    done = fleet.cli("release", "w1")
    assert done.returncode == 0, done
    assert fleet.state("w1")["taken_over"] is False
    assert not list((fleet.root / "state" / "requests").glob("*.json"))
