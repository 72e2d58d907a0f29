"""`orch demo` end to end: the real Claude Code CLI, the stand-in model, tmux and git.

Runs the command as a newcomer would (a subprocess, a new folder), then the
clean-up line it prints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_runs_three_workers_through_a_stall_and_a_nudge_then_cleans_up(
    tmp_path: Path, claude_bin: Path, tmux_socket: str
) -> None:
    folder = tmp_path / "demo"
    argv = [sys.executable, "-m", "reconciler", "demo", str(folder), "--claude", str(claude_bin)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "CLAUDE"))}
    elsewhere = f"{tmux_socket}-not-the-demo"
    env["ORCH_TMUX_SOCKET"] = elsewhere  # set in the user's shell: the demo keeps its own
    done = subprocess.run(
        [*argv, "--socket", tmux_socket, "--timeout", "150"],
        capture_output=True, text=True, timeout=240, env=env, check=False,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, (out, done.stderr)
    assert "Traceback" not in out + done.stderr
    assert "demo: note: ORCH_TMUX_SOCKET is set in your shell" in out
    nothing = subprocess.run(["tmux", "-L", elsewhere, "ls"], capture_output=True, check=False)
    assert nothing.returncode != 0  # no server was started on the user's socket
    assert re.search(r"demo: every worker Succeeded in \d+s", out)
    rows = {m[1]: m[2] for m in re.finditer(r"^(docs|tests|lint) +(\w+) ", out, re.MULTILINE)}
    assert rows == {"docs": "Succeeded", "tests": "Succeeded", "lint": "Succeeded"}
    assert "tests  stalled 1x; orch stopped it and resumed its Claude session" in out
    assert "lint   ended a turn without its signal file 1x; the Stop hook sent it back" in out
    assert "docs   went straight through its stages" in out

    app = folder / "app"
    log = subprocess.run(
        ["git", "-C", str(app), "log", "--format=%an|%s", "main..orch/tests"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert log == [
        "claude (orch demo)|tests: test add and sub",
        "claude (orch demo)|tests: plan the tests",
    ]
    assert not (Path.home() / ".claude").exists()  # the demo's own CLAUDE_CONFIG_DIR

    [clean] = [line.strip() for line in out.splitlines() if "cleanup --all --yes" in line]
    assert f"tmux -L {tmux_socket} kill-server" in clean
    cleaned = subprocess.run(["bash", "-c", clean], capture_output=True, text=True, check=False)
    assert not folder.exists(), cleaned.stderr
    alive = subprocess.run(["tmux", "-L", tmux_socket, "ls"], capture_output=True, check=False)
    assert alive.returncode != 0  # the demo's tmux server is gone
