"""`orch demo`'s set-up, without the Claude Code CLI: what it makes, and what it refuses.

The demo itself runs in tests/e2e/test_demo.py (it needs the real CLI).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli.demo_fleet import find_claude, make_demo
from reconciler.core.errors import UsageError
from reconciler.stubapi import Script


def fake_claude(folder: Path) -> Path:
    path = folder / "bin" / "claude"
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def orch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m reconciler ARGS`` with ``env`` (default: this process's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip


def test_the_demo_fleet_validates_with_its_placeholders_filled(tmp_path: Path) -> None:
    claude = fake_claude(tmp_path)
    demo = make_demo(tmp_path / "demo", claude, "orch-demo-test")

    fleet_yaml = (demo.control / "specs" / "fleet.yaml").read_text()
    assert "@{" not in fleet_yaml and "@{" not in (demo.control / "config/orch.yaml").read_text()
    assert f'PATH: "{claude.parent}:${{PATH}}"' in fleet_yaml
    assert "socket: orch-demo-test" in (demo.control / "config/orch.yaml").read_text()
    env = {**os.environ, "ORCH_DEMO_API_URL": "http://127.0.0.1:9"}
    done = orch("--root", str(demo.control), "validate", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok: 3 workers, 1 repos, 1 pipelines, 1 agents"
    assert [lane.name for lane in Script.load(demo.script).lanes] == ["docs", "tests", "lint"]
    for repo in (demo.app, demo.control):  # both committed, nothing left over
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                                capture_output=True, text=True, check=True)  # fmt: skip
        assert status.stdout == ""
    assert (demo.app / "calc.py").is_file()


def test_the_demo_without_its_model_url_is_a_clear_validation_error(tmp_path: Path) -> None:
    demo = make_demo(tmp_path / "demo", fake_claude(tmp_path), "orch-demo-test")
    env = {k: v for k, v in os.environ.items() if k != "ORCH_DEMO_API_URL"}
    done = orch("--root", str(demo.control), "validate", env=env)
    assert done.returncode == 1
    assert 'env ANTHROPIC_BASE_URL: "${ORCH_DEMO_API_URL}" is not set' in done.stderr


def test_a_folder_that_is_not_empty_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me\n")
    done = orch("demo", str(folder), "--claude", str(fake_claude(tmp_path)))
    assert done.returncode == 1
    assert "is not an empty folder; orch demo only fills a new or empty one" in done.stderr
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_a_claude_that_is_not_there_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    done = orch("demo", str(tmp_path / "demo"), "--claude", str(tmp_path / "no-such-claude"))
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"error: --claude {tmp_path / 'no-such-claude'}: not an executable file"
    )
    assert not (tmp_path / "demo").exists()


def test_without_claude_anywhere_the_message_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"run ./scripts/setup .* or pass --claude PATH"):
        find_claude(None, str(tmp_path), tmp_path)


def test_claude_is_found_on_path_then_in_the_source_tree(tmp_path: Path) -> None:
    on_path = fake_claude(tmp_path / "a")
    assert find_claude(None, str(on_path.parent), tmp_path) == on_path
    local = tmp_path / "tree" / ".ci" / "node" / "node_modules" / ".bin" / "claude"
    local.parent.mkdir(parents=True)
    local.write_text("#!/bin/sh\n")
    assert find_claude(None, str(tmp_path / "empty"), tmp_path / "tree") == local


def test_a_failed_set_up_leaves_the_folder_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / "git").write_text("#!/bin/sh\necho 'fatal: disk full' >&2\nexit 128\n")
    (broken / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken}:{os.environ['PATH']}")  # git fails half-way
    folder = tmp_path / "demo"
    folder.mkdir()
    with pytest.raises(UsageError, match=r"git could not set up the demo in .*disk full"):
        make_demo(folder, fake_claude(tmp_path), None)
    assert list(folder.iterdir()) == []
