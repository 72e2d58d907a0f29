"""Claude Code's config made ready for interactive workers: the user's kept, orch's filled."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.core.claude_config import unexpected_screen
from reconciler.core.model import Config, Desired
from reconciler.core.profiles import profile_agent
from reconciler.loop import claude_config

KEY = "sk-test-0123456789abcdefghijklmn"


def desired(root: Path, config_dir: str | None = None) -> Desired:
    cfg = Config(claude_config_dir=config_dir)
    return Desired(root, cfg, {}, {}, {}, {}, {})


def test_the_users_config_gets_only_the_trust_entry_and_a_backup(tmp_path: Path) -> None:
    user = tmp_path / "home-config"
    user.mkdir()
    original = {"oauthAccount": {"emailAddress": "me@example.com"}, "numStartups": 7,
                "projects": {"/elsewhere": {"allowedTools": ["Bash"]}}}  # fmt: skip
    (user / ".claude.json").write_text(json.dumps(original))
    d = desired(tmp_path / "ctl")
    agent = profile_agent("claude", "claude", {"mode": "interactive"})

    claude_config.prepare(d, agent, {"CLAUDE_CONFIG_DIR": str(user), "ANTHROPIC_API_KEY": KEY})

    now = json.loads((user / ".claude.json").read_text())
    folder = str((tmp_path / "ctl" / "worktrees").resolve())
    assert now["projects"][folder] == {"hasTrustDialogAccepted": True}
    assert {k: v for k, v in now.items() if k != "projects"} == {
        k: v for k, v in original.items() if k != "projects"
    }
    assert now["projects"]["/elsewhere"] == original["projects"]["/elsewhere"]
    assert "customApiKeyResponses" not in now and "hasCompletedOnboarding" not in now
    assert json.loads((user / ".claude.json.orch-backup").read_text()) == original
    assert claude_config.config_env(d, agent) == {}


def test_an_unreadable_user_config_is_left_alone(tmp_path: Path) -> None:
    user = tmp_path / "u"
    user.mkdir()
    (user / ".claude.json").write_text("{not json")
    d = desired(tmp_path / "ctl")
    claude_config.prepare(d, profile_agent("claude", "claude"), {"CLAUDE_CONFIG_DIR": str(user)})
    assert (user / ".claude.json").read_text() == "{not json"
    assert not (user / ".claude.json.orch-backup").exists()


def test_home_is_the_default_and_an_already_trusted_folder_is_not_rewritten(
    tmp_path: Path,
) -> None:
    d = desired(tmp_path / "ctl")
    agent = profile_agent("claude", "claude", {"mode": "interactive"})
    claude_config.prepare(d, agent, {})
    path = Path.home() / ".claude.json"
    assert json.loads(path.read_text())["projects"]
    before = path.stat().st_mtime_ns
    claude_config.prepare(d, agent, {})
    assert path.stat().st_mtime_ns == before
    assert not path.with_name(".claude.json.orch-backup").exists()  # nothing was there before


def test_orchs_own_folder_is_filled_completely(tmp_path: Path) -> None:
    d = desired(tmp_path / "ctl", "claude-home")
    agent = profile_agent("claude", "claude", {"mode": "interactive"})
    env = claude_config.config_env(d, agent)
    own = (tmp_path / "ctl" / "claude-home").resolve()
    assert env == {"CLAUDE_CONFIG_DIR": str(own)}

    claude_config.prepare(d, agent, {"ANTHROPIC_API_KEY": KEY})

    data = json.loads((own / ".claude.json").read_text())
    assert data["hasCompletedOnboarding"] is True
    assert data["customApiKeyResponses"]["approved"] == [KEY[-20:]]
    assert data["projects"][str((tmp_path / "ctl" / "worktrees").resolve())] == {
        "hasTrustDialogAccepted": True
    }
    assert not (Path.home() / ".claude.json").exists()


def test_an_agents_config_dir_overrides_the_fleets(tmp_path: Path) -> None:
    d = desired(tmp_path / "ctl", "fleet-dir")
    agent = profile_agent("claude", "claude", {"claudeConfigDir": "/abs/agent-dir"})
    assert claude_config.config_env(d, agent) == {"CLAUDE_CONFIG_DIR": "/abs/agent-dir"}
    assert claude_config.config_env(d, profile_agent("s", "shell")) == {}


def test_screens_that_wait_for_a_person() -> None:
    login = "Select login method:\n\n \u276f 1. Claude account with subscription\n   2. Console"
    assert unexpected_screen(login) == "Select login method:"
    key = ("Detected a custom API key in your environment\nANTHROPIC_API_KEY: sk-ant-...\n"
           "Do you want to use this API key?\n\u276f 1. Yes\n  2. No\nEnter to confirm")
    assert unexpected_screen(key) == "Do you want to use this API key?"
    working = "● Bash(ls)\n  ⎿  a.txt\n✻ Crunching…\n\u276f \n  ⏵⏵ bypass permissions on"
    assert unexpected_screen(working) is None
