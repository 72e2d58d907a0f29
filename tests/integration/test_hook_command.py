"""`orch hook EVENT`, run as Claude Code runs it: the command from orch's settings file.

A reconcile starts one worker on the ``claude`` profile (a fake ``claude`` that
only sleeps, first on the Agent's PATH), so orch has made everything a real
hook sees: the worktree, ``state/agents/<worker>/settings.json`` and the
attempt's env file. Each hook then runs like Claude Code runs it: ``sh -c
<the settings' command for EVENT>`` in the worktree, with the agent's
environment (the env file orch wrote, over the test's own) and the event JSON
on stdin.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)

API_KEY = "sk-hook-test-0123456789abcdef"
STOP_NUDGES = 3  # not the default (2): the spec's value must reach the hook
FIELD_CAP = 2000  # reconciler/cli/hook.py: characters of one field kept


@dataclass
class Hooked:
    """One running claude worker and how to run its hooks."""

    worktree: Path
    settings: dict[str, Any]
    env: dict[str, str]  # the agent's environment, as orch wrote it

    @property
    def journal(self) -> Path:
        return self.worktree / ".orch" / "hooks.jsonl"

    @property
    def signal(self) -> Path:
        return Path(self.env["ORCH_SIGNAL_FILE"])

    def command(self, event: str) -> str:
        (entry,) = self.settings["hooks"][event]
        (hook,) = entry["hooks"]
        assert hook["type"] == "command"
        return str(hook["command"])

    def run(
        self, event: str, stdin: bytes | str | dict[str, Any] = b"{}", **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the hook command for ``event``; asserts exit 0 and an empty stderr."""
        data = json.dumps(stdin) if isinstance(stdin, dict) else stdin
        done = subprocess.run(
            ["sh", "-c", self.command(event)],
            input=data.encode() if isinstance(data, str) else data,
            cwd=self.worktree,
            env={**os.environ, **self.env, **env},
            capture_output=True,
            timeout=30,
            check=False,
        )
        out = subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )
        assert (out.returncode, out.stderr) == (0, ""), out
        return out

    def lines(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines()]


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=shell-quoted value`` lines orch writes (core.agent_command.env_file_text)."""
    env = {}
    for line in path.read_text().splitlines():
        (word,) = shlex.split(line)
        key, _, value = word.partition("=")
        env[key] = value
    return env


@pytest.fixture
def hooked(fleet: Fleet) -> Hooked:
    """A reconciled worker ``w1`` on a claude-profile Agent with a sleeping fake claude."""
    bin_dir = fleet.tmp / "fake-bin"
    bin_dir.mkdir()
    claude = bin_dir / "claude"
    claude.write_text("#!/bin/sh\nexec sleep 30\n")
    claude.chmod(0o755)
    fleet.write(
        "config/orch.yaml",
        f"tmux:\n  socket: {fleet.socket}\n  session: {fleet.session}\n"
        "reconcile:\n  startInterval: 0s\n",
    )
    env = {
        "PATH": f"{bin_dir}:${{PATH}}",
        "ANTHROPIC_API_KEY": API_KEY,
        "CLAUDE_CONFIG_DIR": str(fleet.tmp / "claude-config"),
    }
    docs = [
        fleet.document("Repo", fleet.repo_name, {"path": str(fleet.repo), "defaultBranch": "main"}),
        fleet.document(
            "Agent", "claude", {"profile": "claude", "stopNudges": STOP_NUDGES, "env": env}
        ),
        fleet.document("Pipeline", "p", {"stages": [fleet.stage("work")]}),
        fleet.document(
            "Worker", "w1", {"repo": fleet.repo_name, "pipeline": "p", "agent": "claude"}
        ),
    ]
    fleet.write("specs/fleet.yaml", fleet.dump(*docs))
    fleet.reconcile()
    state = fleet.root / "state"
    settings = json.loads((state / "agents" / "w1" / "settings.json").read_text())
    agent_env = read_env_file(state / "logs" / "w1" / "work-1.env")
    worktree = fleet.worktree("w1")
    assert agent_env["ORCH_WORKTREE"] == str(worktree)
    assert agent_env["ORCH_STOP_NUDGES"] == str(STOP_NUDGES)
    return Hooked(worktree, settings, agent_env)


def test_the_settings_run_orch_hook_through_this_python(hooked: Hooked) -> None:
    for event in ("PreToolUse", "Stop", "SessionStart"):
        argv = shlex.split(hooked.command(event))
        assert argv == [sys.executable, "-m", "reconciler", "hook", event]
    assert hooked.settings["hooks"]["PreToolUse"][0]["matcher"] == "*"


def test_each_event_is_appended_with_event_time_stage_and_attempt(hooked: Hooked) -> None:
    before = time.time()
    pre = hooked.run(
        "PreToolUse",
        {"session_id": "s-1", "tool_name": "Bash", "tool_input": {"command": "make test"}},
    )
    post = hooked.run("PostToolUse", {"session_id": "s-1", "tool_name": "Bash"})
    after = time.time()

    assert pre.stdout == post.stdout == ""  # only a Stop is ever answered
    first, second = hooked.lines()
    assert first == {
        "session_id": "s-1",
        "tool_name": "Bash",
        "tool_input": {"command": "make test"},
        "event": "PreToolUse",
        "ts": first["ts"],
        "stage": "work",
        "attempt": 1,
    }
    assert before <= first["ts"] <= second["ts"] <= after
    assert (second["event"], second["stage"], second["attempt"]) == ("PostToolUse", "work", 1)
    assert (hooked.journal.stat().st_mode & 0o777) == 0o600


def test_a_stop_without_the_signal_is_sent_back_at_most_stop_nudges_times(
    hooked: Hooked,
) -> None:
    answers = []
    for active in (False, True, True, True, True):
        done = hooked.run("Stop", {"session_id": "s-1", "stop_hook_active": active})
        answers.append(json.loads(done.stdout) if done.stdout.strip() else None)

    blocks = answers[:STOP_NUDGES]
    assert all(a is not None and a["decision"] == "block" for a in blocks), answers
    for answer in blocks:
        assert answer is not None
        assert str(hooked.signal) in answer["reason"]  # names the signal file to write
        assert hooked.env["ORCH_FAILED_FILE"] in answer["reason"]  # and the way out
    assert answers[STOP_NUDGES:] == [None, None]  # then the stop is let through
    stops = hooked.lines()
    assert [s.get("nudged", False) for s in stops] == [True] * STOP_NUDGES + [False, False]
    # stop_hook_active (true after a block) does not end the nudging: the count does
    assert [s["stop_hook_active"] for s in stops] == [False, True, True, True, True]


def test_the_nudge_count_is_per_stage_and_attempt(hooked: Hooked) -> None:
    for _ in range(STOP_NUDGES):
        assert hooked.run("Stop").stdout
    assert hooked.run("Stop").stdout == ""

    # a new attempt (a restart) and another stage each get their own nudges
    assert json.loads(hooked.run("Stop", ORCH_ATTEMPT="2").stdout)["decision"] == "block"
    assert json.loads(hooked.run("Stop", ORCH_STAGE="review").stdout)["decision"] == "block"
    assert hooked.run("Stop").stdout == ""  # attempt 1 of work is still spent
    # ORCH_STOP_NUDGES=0 (stopNudges: 0): never sent back
    assert hooked.run("Stop", ORCH_ATTEMPT="3", ORCH_STOP_NUDGES="0").stdout == ""


def test_a_stop_with_the_signal_or_the_failed_file_is_never_blocked(hooked: Hooked) -> None:
    hooked.signal.parent.mkdir(parents=True, exist_ok=True)
    hooked.signal.write_text('{"summary": "done"}\n')
    for _ in range(STOP_NUDGES + 1):
        assert hooked.run("Stop", {"stop_hook_active": False}).stdout == ""
    hooked.signal.unlink()
    failed = Path(hooked.env["ORCH_FAILED_FILE"])
    failed.write_text('{"summary": "cannot"}\n')
    assert hooked.run("Stop", {"stop_hook_active": False}).stdout == ""
    assert not any(line.get("nudged") for line in hooked.lines())
    assert len(hooked.lines()) == STOP_NUDGES + 2  # still recorded
    # without either file, it is sent back again
    failed.unlink()
    assert json.loads(hooked.run("Stop").stdout)["decision"] == "block"


@pytest.mark.parametrize(
    ("stdin", "raw"),
    [
        (b"not json {", "not json {"),
        (b"[1, 2]", "[1, 2]"),
        (b'"just a string"', "just a string"),
        (b"", None),
    ],
    ids=["malformed", "a list", "a string", "empty"],
)
def test_input_that_is_no_json_object_is_recorded_raw(
    hooked: Hooked, stdin: bytes, raw: str | None
) -> None:
    assert hooked.run("PreToolUse", stdin).stdout == ""
    (line,) = hooked.lines()
    assert line.get("raw") == raw
    assert (line["event"], line["stage"], line["attempt"]) == ("PreToolUse", "work", 1)


def test_problems_never_fail_the_agent(hooked: Hooked, tmp_path: Path) -> None:
    # undecodable bytes, a worktree whose .orch is a file, a bad attempt number:
    # exit 0, nothing printed (run() asserts both), and a Stop is let through
    hooked.run("Stop", b"\xff\xfe{not utf-8")
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / ".orch").write_text("a file where a folder belongs\n")
    assert hooked.run("Stop", ORCH_WORKTREE=str(blocked)).stdout == ""
    assert hooked.run("Stop", ORCH_ATTEMPT="one").stdout == ""
    # the next good event is recorded as usual
    hooked.run("PreToolUse", {"tool_name": "Read"})
    assert [line["event"] for line in hooked.lines()][-1] == "PreToolUse"


def test_a_very_large_event_is_trimmed(hooked: Hooked) -> None:
    big = "x" * 300_000
    hooked.run(
        "PostToolUse",
        {"session_id": "s-big", "tool_name": "Bash", "tool_response": {"stdout": big}, "note": big},
    )
    # over the 1 MiB read: the hook stops reading, keeps a trimmed raw text, exits 0
    hooked.run("PreToolUse", json.dumps({"tool_input": "y" * 3_000_000}))

    text = hooked.journal.read_text()
    assert len(text) < 4 * FIELD_CAP + 1000, len(text)
    first, second = hooked.lines()
    assert (first["session_id"], first["tool_name"]) == ("s-big", "Bash")  # small fields kept
    assert first["note"] == "x" * FIELD_CAP + "…"
    assert isinstance(first["tool_response"], str)
    assert len(first["tool_response"]) == FIELD_CAP + 1
    assert second["event"] == "PreToolUse"
    assert len(second["raw"]) <= FIELD_CAP


def test_secrets_of_the_agent_env_are_masked_in_the_journal(hooked: Hooked) -> None:
    hooked.run("PostToolUse", {"tool_name": "Bash", "tool_response": f"key is {API_KEY}"})
    text = hooked.journal.read_text()
    assert API_KEY not in text
    assert hooked.lines()[0]["tool_response"] == "key is ***"


def test_concurrent_hooks_write_whole_lines(hooked: Hooked) -> None:
    env = {**os.environ, **hooked.env}
    procs = [
        subprocess.Popen(
            ["sh", "-c", hooked.command("PostToolUse")],
            stdin=subprocess.PIPE,
            cwd=hooked.worktree,
            env=env,
        )
        for _ in range(12)
    ]
    for n, proc in enumerate(procs):
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"n": n, "tool_response": str(n) * 1500}).encode())
        proc.stdin.close()
    assert [proc.wait(timeout=30) for proc in procs] == [0] * len(procs)
    assert sorted(line["n"] for line in hooked.lines()) == list(range(len(procs)))
