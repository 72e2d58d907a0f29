"""`orch agents`: the built-in profiles and the Agent documents, through the real CLI.

PATH is built by the test (a folder of links to the few tools orch needs, plus
a folder for fake agent programs), so whether a program is "on PATH" never
depends on the machine the suite runs on.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)

PROFILE_COMMANDS = {
    "aider": "aider --yes --no-pretty --message-file <prompt_file>",
    "claude": "claude -p --output-format stream-json --verbose --settings <settings_file> "
    "--dangerously-skip-permissions",
    "codex": "codex exec --full-auto --skip-git-repo-check -",
    "shell": "bash <prompt_file>",
}


@pytest.fixture
def path_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(tools, fakes): ``tools`` links bash, sh and git only; ``fakes`` starts empty."""
    tools, fakes = tmp_path / "tools", tmp_path / "fakes"
    tools.mkdir()
    fakes.mkdir()
    for name in ("bash", "sh", "git"):
        found = shutil.which(name)
        assert found, name
        (tools / name).symlink_to(found)
    return tools, fakes


def fake_program(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def name_line(fleet: Fleet, rel: str, name: str) -> int:
    """The line of ``rel`` holding ``name: <name>`` (where an object is declared)."""
    lines = (fleet.root / rel).read_text().splitlines()
    found = [n for n, line in enumerate(lines, 1) if line.strip() == f"name: {name}"]
    assert len(found) == 1, (rel, name, found)
    return found[0]


def agents_json(fleet: Fleet, path: str) -> dict[str, dict[str, Any]]:
    done = fleet.cli("agents", "--json", env={"PATH": path})
    assert done.returncode == 0, done
    items = json.loads(done.stdout)["agents"]
    names = [a["name"] for a in items]
    assert len(names) == len(set(names)), names  # one entry a name
    return {a["name"]: a for a in items}


def test_lists_the_builtin_profiles_with_their_commands_and_path(
    fleet: Fleet, path_dirs: tuple[Path, Path]
) -> None:
    tools, fakes = path_dirs
    fleet.base("sleep.sh")  # Agent "fake": sh tests/agents/sleep.sh
    path = f"{fakes}{os.pathsep}{tools}"

    agents = agents_json(fleet, path)

    assert list(agents) == ["aider", "claude", "codex", "shell", "fake"]  # profiles first
    for name, command in PROFILE_COMMANDS.items():
        a = agents[name]
        assert a["command"] == command
        assert (a["profile"], a["source"], a["env"]) == (name, "built-in profile", {})
        assert a["program"] == command.split()[0]
    on_path = {name: a["onPath"] for name, a in agents.items()}
    assert on_path == {"aider": False, "claude": False, "codex": False, "shell": True, "fake": True}
    fake = agents["fake"]
    assert fake["source"] == f"specs/base.yaml:{name_line(fleet, 'specs/base.yaml', 'fake')}"
    assert fake["command"] == f"sh {fleet.agents_dir / 'sleep.sh'}"
    assert fake["profile"] is None

    # a codex program on PATH: only codex changes
    fake_program(fakes, "codex")
    again = agents_json(fleet, path)
    assert {name: a["onPath"] for name, a in again.items()} == {**on_path, "codex": True}

    # the table says the same
    done = fleet.cli("agents", env={"PATH": path})
    assert done.returncode == 0, done
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert done.stdout.splitlines()[0].split() == ["NAME", "FROM", "ON", "PATH", "COMMAND"]
    assert set(rows) == {"aider", "claude", "codex", "shell", "fake"}
    assert rows["codex"].split()[1:5] == ["built-in", "profile", "yes", "codex"]
    assert rows["claude"].split()[1:5] == ["built-in", "profile", "NO", "claude"]
    assert rows["claude"].endswith(PROFILE_COMMANDS["claude"])


def test_an_agent_document_named_claude_replaces_the_profile(
    fleet: Fleet, path_dirs: tuple[Path, Path]
) -> None:
    tools, fakes = path_dirs
    fake_program(fakes, "my-claude")
    fleet.base("sleep.sh")
    fleet.write(
        "specs/agents.yaml",
        fleet.dump(
            fleet.document(
                "Agent",
                "claude",
                {
                    "command": ["my-claude", "--prompt-file", "{{ prompt_file }}"],
                    "env": {"MY_TOKEN": "s3cr3t-literal-value", "MODE": "fast"},
                },
            ),
            fleet.document(
                "Agent",
                "claude-strict",
                {
                    "profile": "claude",
                    "permissionMode": "acceptEdits",
                    "allowedTools": ["Bash", "Edit"],
                },
            ),
        ),
    )
    path = f"{fakes}{os.pathsep}{tools}"

    agents = agents_json(fleet, path)

    claude = agents["claude"]
    line = name_line(fleet, "specs/agents.yaml", "claude")
    assert claude["source"] == f"specs/agents.yaml:{line}"
    assert claude["command"] == "my-claude --prompt-file <prompt_file>"
    assert (claude["program"], claude["onPath"], claude["profile"]) == ("my-claude", True, None)
    assert claude["env"] == {"MY_TOKEN": "***", "MODE": "fast"}  # secrets never printed
    assert "s3cr3t-literal-value" not in fleet.cli("agents", env={"PATH": path}).stdout
    # a variant of the profile: its own name, the profile's program with its options
    strict = agents["claude-strict"]
    assert strict["profile"] == "claude"
    assert strict["source"].startswith("specs/agents.yaml:")
    assert strict["command"] == (
        "claude -p --output-format stream-json --verbose --settings <settings_file> "
        "--permission-mode acceptEdits --allowedTools=Bash,Edit"
    )
    assert strict["onPath"] is False
    # the other profiles are still there, as built
    for name in ("aider", "codex", "shell"):
        assert agents[name]["source"] == "built-in profile"
