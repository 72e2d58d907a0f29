"""Restarts of a worker on the ``claude`` profile: resume the session only when it can be resumed.

The agent is the built-in ``claude`` profile; its program is a fake ``claude``
(tests/agents/fake-claude/claude, first on the Agent's PATH) that records its
argv, its stdin (the prompt) and IS_SANDBOX, prints a stream-json init line
with a session id and exits 3 on attempt 1 (a crash), then hangs on attempt 2.
Between the two, the test decides whether the session's transcript exists under
``$CLAUDE_CONFIG_DIR/projects/<cwd>/<session>.jsonl``. The backoff is skipped
with the engine's clock, never slept through.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
Retry = Callable[..., Any]

STAGE_TEXT = "Implement the parser for the calculator."
SYSTEM_PROMPT_FLAGS = ("--system-prompt", "--append-system-prompt")


def setup(fleet: Fleet, **agent_env: str) -> Path:
    """Specs: the claude profile with the fake on PATH; one worker ``w1``. The config dir."""
    config_dir = fleet.tmp / "claude-config"
    config_dir.mkdir()
    fleet.write(
        "config/orch.yaml",
        f"tmux:\n  socket: {fleet.socket}\n  session: {fleet.session}\n"
        "reconcile:\n  startInterval: 0s\n",
    )
    fleet.write("playbooks/prompts/work.md.j2", STAGE_TEXT + " Signal: {{ signal_file }}\n")
    env = {
        "PATH": f"{fleet.agents_dir / 'fake-claude'}:${{PATH}}",
        "CLAUDE_CONFIG_DIR": str(config_dir),
        **agent_env,
    }
    policy = {"maxRestarts": 3, "backoff": {"initial": "1s", "max": "1s"}}
    stage = fleet.stage("work", prompt="playbooks/prompts/work.md.j2")
    docs = [
        fleet.document("Repo", fleet.repo_name, {"path": str(fleet.repo), "defaultBranch": "main"}),
        fleet.document("Agent", "claude", {"profile": "claude", "env": env}),
        fleet.document("Pipeline", "p", {"stages": [stage]}),
        fleet.document(
            "Worker",
            "w1",
            {"repo": fleet.repo_name, "pipeline": "p", "agent": "claude", "restartPolicy": policy},
        ),
    ]
    fleet.write("specs/fleet.yaml", fleet.dump(*docs))
    return config_dir


class Recorded:
    """What the fake claude recorded for one attempt."""

    def __init__(self, fleet: Fleet, attempt: int) -> None:
        base = fleet.worktree("w1") / ".orch" / "claude" / f"work-{attempt}"
        self.args = base.with_suffix(".args").read_text().splitlines()
        self.prompt = base.with_suffix(".prompt").read_text()
        facts = dict(
            line.split("=", 1) for line in base.with_suffix(".env").read_text().splitlines()
        )
        self.is_sandbox = facts["IS_SANDBOX"]
        self.session = facts["session"]


def recorded(fleet: Fleet, attempt: int) -> Callable[[], Recorded | None]:
    path = fleet.worktree("w1") / ".orch" / "claude" / f"work-{attempt}.env"
    return lambda: Recorded(fleet, attempt) if path.exists() else None


def crash_then_restart(
    fleet: Fleet, retry_until: Retry, transcript: Callable[[str], None]
) -> tuple[Recorded, Recorded]:
    """Attempt 1 crashes; ``transcript(session)`` runs; the restart (attempt 2) is started."""
    fleet.reconcile()
    first = retry_until(recorded(fleet, 1), message="attempt 1 to start")
    retry_until(fleet.dead_window("w1"), message="attempt 1 to crash")
    transcript(first.session)
    fleet.reconcile()  # the crash: Backoff
    state = fleet.state("w1")
    assert state["phase"] == "Backoff", state
    assert state["reason"].startswith("crashed: exit 3"), state
    later = state["backoff_until"] + 0.5
    result = fleet.reconcile(clock=lambda: later)
    assert [(e.verb, e.worker) for e in result.events] == [("start-agent", "w1")], result.events
    second = retry_until(recorded(fleet, 2), message="attempt 2 to start")
    return first, second


def project_dir(config_dir: Path, worktree: Path) -> Path:
    """Where Claude Code keeps the sessions of ``worktree`` (every non-alphanumeric as -)."""
    return config_dir / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(worktree))


def assert_restart_prompt_is_the_user_prompt(attempt: Recorded) -> None:
    assert "crashed: exit 3" in attempt.prompt  # the restart summary's reason
    assert STAGE_TEXT in attempt.prompt  # and the stage's own prompt
    assert not set(SYSTEM_PROMPT_FLAGS) & {a.split("=")[0] for a in attempt.args}, attempt.args
    assert not any("crashed" in a or STAGE_TEXT in a for a in attempt.args), attempt.args


def test_a_crash_is_resumed_with_the_session_when_its_transcript_exists(
    fleet: Fleet, retry_until: Retry
) -> None:
    config_dir = setup(fleet)
    worktree = fleet.worktree("w1")

    def write_transcript(session: str) -> None:
        folder = project_dir(config_dir, worktree)
        folder.mkdir(parents=True)
        (folder / f"{session}.jsonl").write_text('{"type":"user","message":"hi"}\n')

    first, second = crash_then_restart(fleet, retry_until, write_transcript)

    assert first.args[:2] == ["-p", "--output-format"]
    assert "--resume" not in first.args
    assert STAGE_TEXT in first.prompt and "crashed" not in first.prompt
    i = second.args.index("--resume")
    assert second.args[: i + 2] == ["-p", "--resume", first.session]
    assert second.session == first.session
    settings = fleet.root / "state" / "agents" / "w1" / "settings.json"
    assert second.args[second.args.index("--settings") + 1] == str(settings)
    assert_restart_prompt_is_the_user_prompt(second)
    window = fleet.window("w1")
    assert window is not None
    assert (window["@orch-attempt"], window["pane_dead"]) == ("2", "0")
    events = (fleet.root / "state" / "events.jsonl").read_text().splitlines()
    assert f'"resumed": "{first.session}"' in events[-1], events[-1]


@pytest.mark.parametrize("transcript", ["none", "empty", "elsewhere"])
def test_without_a_transcript_the_restart_starts_afresh_with_the_summary(
    fleet: Fleet, retry_until: Retry, transcript: str
) -> None:
    config_dir = setup(fleet)
    worktree = fleet.worktree("w1")

    def prepare(session: str) -> None:
        if transcript == "none":
            return
        folder = project_dir(config_dir, worktree)
        folder.mkdir(parents=True)
        if transcript == "empty":
            (folder / f"{session}.jsonl").write_text("")
        else:  # another session's transcript: not this one
            (folder / "some-other-session.jsonl").write_text('{"type":"user"}\n')

    first, second = crash_then_restart(fleet, retry_until, prepare)

    assert "--resume" not in second.args
    assert second.args == first.args  # the profile's fresh command line again
    assert second.session != first.session
    assert_restart_prompt_is_the_user_prompt(second)
    events = (fleet.root / "state" / "events.jsonl").read_text().splitlines()
    assert '"resumed"' not in events[-1], events[-1]


def test_is_sandbox_is_set_only_when_orch_runs_as_root(fleet: Fleet, retry_until: Retry) -> None:
    setup(fleet)
    fleet.reconcile()

    first = retry_until(recorded(fleet, 1), message="attempt 1 to start")

    assert first.is_sandbox == ("1" if os.geteuid() == 0 else "(unset)")
    env_file = fleet.root / "state" / "logs" / "w1" / "work-1.env"
    assert ("IS_SANDBOX=1" in env_file.read_text().splitlines()) is (os.geteuid() == 0)
    assert "--dangerously-skip-permissions" in first.args


def test_is_sandbox_from_the_agent_env_is_kept(fleet: Fleet, retry_until: Retry) -> None:
    setup(fleet, IS_SANDBOX="0")
    fleet.reconcile()

    first = retry_until(recorded(fleet, 1), message="attempt 1 to start")

    assert first.is_sandbox == "0"  # the spec's value, even as root
