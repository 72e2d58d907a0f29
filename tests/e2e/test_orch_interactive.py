"""orch with interactive Claude Code workers (the TUI in a tmux window) against the stub API.

The pinned CLI runs without ``-p`` in the worker's window: its prompt is the
initial prompt argument, its hooks report activity and questions, and the
signal file completes each stage. Interactive sessions send one extra request
each (a title, whose last user message starts with ``<session>``): the
``TITLES`` lane answers those, so the worker's own lane sees only its work.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from test_orch_claude import branch_log, commit, drive, phase, setup_fleet, signal

from reconciler.loop.notify import Notifier
from reconciler.stubapi import Lane, StubAPI, bash, hang, text

pytestmark = pytest.mark.e2e
Fleet = Any  # tests/integration/conftest.py:Fleet
TITLES = Lane((), marker="<session>", then=text("Title"), name="titles")
FILLER = [f"line {i:03d}: {'x' * 70} 'quoted' \"double\" $HOME `tick`" for i in range(300)]
LONG_PROMPT = """\
Worker {{ worker }}, stage {{ stage }} of {{ stages | join(", ") }}, attempt {{ attempt }}.
When the stage is done, write the file {{ signal_file }}.
""" + "\n".join(FILLER) + "\nEND-OF-PROMPT\n"


def interactive(fleet: Fleet, **extra: Any) -> dict[str, Any]:
    """The Agent's options: the TUI, with a config folder orch fills (HOME stays clean)."""
    return {"mode": "interactive", "claudeConfigDir": str(fleet.tmp / "orch-claude"), **extra}


def test_an_interactive_worker_completes_two_stages_with_its_long_prompt_whole(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI
) -> None:
    stub_api.set_script([TITLES, Lane((bash(signal("plan", commit("one"))), text("plan done"),
                                       bash(signal("build", commit("two"))), text("build done")),
                                      marker="Worker w1,")])  # fmt: skip
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}}, agent=interactive(fleet))
    fleet.write("playbooks/prompts/stage.md.j2", LONG_PROMPT)

    drive(fleet, lambda: phase(fleet, "w1") == "Succeeded", seconds=150)

    assert branch_log(fleet, "orch/w1") == ["add two", "add one"]
    firsts = [r.last_user_text() for r in stub_api.message_requests
              if r.lane == "Worker w1," and "END-OF-PROMPT" in r.last_user_text()]  # fmt: skip
    assert len(firsts) == 2  # one whole prompt a stage
    for got in firsts:
        assert all(line in got for line in FILLER)
    config = json.loads((fleet.tmp / "orch-claude" / ".claude.json").read_text())
    assert config["hasCompletedOnboarding"] is True
    trusted = str((fleet.root / "worktrees").resolve())
    assert config["projects"][trusted]["hasTrustDialogAccepted"] is True
    assert not (Path.home() / ".claude.json").exists()  # the user's config is never touched
    hooks = (fleet.worktree("w1") / ".orch" / "hooks.jsonl").read_text()
    assert '"permission_mode": "bypassPermissions"' in hooks


def test_a_permission_prompt_is_needs_input_until_orch_send_answers_it(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI
) -> None:
    """Without bypass, a git commit needs approval: the TUI asks, the worker waits."""
    stub_api.set_script([TITLES, Lane((bash(signal("plan", commit("one"))), text("plan done")),
                                      marker="Worker w1,")])  # fmt: skip
    told = fleet.tmp / "told.txt"
    notify = ["sh", str(fleet.agents_dir / "notify.sh"), str(told), "0", "{{ worker }}"]
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}}, stages=("plan",), stall="5s",
                agent=interactive(fleet, permissionMode="default"),
                config=f"notify:\n  command: {json.dumps(notify)}\n")  # fmt: skip

    notifier = Notifier(lambda _: None)  # what the watcher runs after each of its passes

    def needs_input() -> bool:
        notifier.after_pass(fleet.reconcile(check=False), time.time())
        return phase(fleet, "w1") == "NeedsInput"

    drive(fleet, needs_input, seconds=90)
    row = fleet.status()["w1"]
    assert "permission to use Bash" in row["reason"]
    deadline = time.monotonic() + 10  # the command runs detached: give it a moment
    while not told.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert told.read_text().startswith("w1|NeedsInput|waits for a person: permission to use Bash")
    waits_since = time.monotonic()  # passes go on past stallTimeout (5s): no stall, no restart
    while time.monotonic() - waits_since < 7:
        fleet.reconcile(check=False)
        assert phase(fleet, "w1") == "NeedsInput"
        time.sleep(0.5)

    done = fleet.cli("send", "w1", "1")
    assert done.returncode == 0, done

    drive(fleet, lambda: phase(fleet, "w1") == "Succeeded", seconds=90)
    assert branch_log(fleet, "orch/w1") == ["add one"]
    state = fleet.state("w1")
    assert state["restarts_total"] == 0  # waiting was never a stall
    events = (fleet.root / "state" / "events.jsonl").read_text()
    assert '"NeedsInput"' in events or "waits for a person" in events


def test_takeover_resumes_a_headless_session_interactively_and_release_hands_it_back(
    fleet: Fleet, claude_bin: Path, stub_api: StubAPI, retry_until: Any
) -> None:
    stub_api.set_script([TITLES, Lane((bash(commit("before")), hang(),
                                       bash(signal("plan")), text("done by hand")),
                                      marker="Worker w1,")])  # fmt: skip
    own = fleet.tmp / "orch-claude"  # the fleet's config folder (config claude.configDir)
    setup_fleet(fleet, claude_bin, stub_api, {"w1": {}}, stages=("plan",), stall="10m",
                config=f"claude:\n  configDir: {own}\n")  # fmt: skip
    fleet.reconcile()
    retry_until(lambda: "add before" in branch_log(fleet, "orch/w1"), 60, message="first step")
    session = retry_until(lambda: fleet.status()["w1"]["sessionId"], 30, message="session id")

    done = fleet.cli("takeover", "w1")
    assert done.returncode == 0, done
    assert f"session {session} resumed interactively" in done.stdout
    assert "attach with: tmux" in done.stdout
    hooks = fleet.worktree("w1") / ".orch" / "hooks.jsonl"

    def resumed() -> bool:
        lines = [json.loads(x) for x in hooks.read_text().splitlines()]
        return any(h["event"] == "SessionStart" and h.get("source") == "resume"
                   and h["session_id"] == session for h in lines)  # fmt: skip

    retry_until(resumed, 60, message="the TUI resumed the same session")
    fleet.reconcile(check=False)
    assert phase(fleet, "w1") == "TakenOver"

    assert fleet.cli("send", "w1", "Please finish the stage.").returncode == 0
    signal_file = fleet.worktree("w1") / ".orch" / "signals" / "plan.done"
    retry_until(signal_file.exists, 60, message="the signal, written in the resumed session")
    [typed] = [r for r in stub_api.message_requests
               if r.lane == "Worker w1," and "Please finish the stage." in r.last_user_text()]
    assert "add before" in json.dumps(typed.messages)  # the same conversation goes on

    assert fleet.cli("release", "w1").returncode == 0
    drive(fleet, lambda: phase(fleet, "w1") == "Succeeded", seconds=90)
    assert fleet.state("w1")["taken_over"] is False
