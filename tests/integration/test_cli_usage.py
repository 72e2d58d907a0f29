"""The real `orch` process outside a control repo, with usage errors, and with an agent it lacks.

No control repo (or a --root/ORCH_ROOT that is none) is exit 1 and one line,
with nothing written there; the commands that need no control repo still run
anywhere; usage errors exit 64, never `orch plan`'s 2; an agent program
missing on this machine is a warning of `validate` and a failed start, not a
window whose shell exits 127 at every restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
_SCRIPT = Path(sys.executable).parent / "orch"
ORCH = [str(_SCRIPT)] if _SCRIPT.is_file() else [
    sys.executable, "-c", "from reconciler.cli.app import main; main()"]  # fmt: skip


def orch(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`orch ARGS` in ``cwd``, never a traceback; no tmux server is ever started."""
    full = {k: v for k, v in os.environ.items() if k not in ("ORCH_ROOT", "ORCH_TMUX_SOCKET")}
    full.update({"ORCH_TMUX_SOCKET": "orch-test-unused", **(env or {})})
    done = subprocess.run([*ORCH, *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done
    return done


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    """A folder that is not a control repo (nor is any parent of it, under tmp_path)."""
    folder = tmp_path / "plain" / "sub"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize(
    "args", [["validate"], ["plan"], ["status"], ["reconcile"], ["get", "workers"], ["report"],
             ["cleanup", "--all", "--yes"], ["logs", "w1"]],
)  # fmt: skip
def test_outside_a_control_repo_a_command_fails_and_writes_nothing(
    plain: Path, args: list[str]
) -> None:
    if (Path("/") / "specs").is_dir():
        pytest.skip("/specs exists: every folder is inside a control repo here")
    done = orch(*args, cwd=plain)
    assert done.returncode == 1, done
    assert done.stderr.startswith(f"error: no control repo at {plain.resolve()} or above it")
    assert done.stderr.count("\n") == 1
    assert list(plain.iterdir()) == [] and list(plain.parent.iterdir()) == [plain]


@pytest.mark.parametrize("how", ["--root", "ORCH_ROOT"])
def test_a_root_that_does_not_exist_is_an_error_and_is_not_made(plain: Path, how: str) -> None:
    missing = plain / "nope"
    args, env = (["--root", str(missing)], None) if how == "--root" else ([], {how: str(missing)})
    done = orch(*args, "validate", cwd=plain, env=env)
    assert (done.returncode, done.stderr) == (1, f"error: {how} {missing} does not exist\n")
    assert not missing.exists()


def test_a_root_that_is_not_a_control_repo_is_an_error(plain: Path) -> None:
    done = orch("--root", str(plain), "status", cwd=plain.parent)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: --root {plain} is not a control repo")
    assert list(plain.iterdir()) == []


def test_the_commands_that_need_no_control_repo_run_anywhere(plain: Path) -> None:
    assert orch("--help", cwd=plain).returncode == 0
    assert orch("--version", cwd=plain).returncode == 0
    assert orch("validate", "--help", cwd=plain).returncode == 0
    assert orch("demo", "--help", cwd=plain).returncode == 0
    assert json.loads(orch("schema", cwd=plain).stdout)["$id"]
    worktree = plain / "wt"
    hooked = subprocess.run([*ORCH, "hook", "PreToolUse"], cwd=plain, input="{}", text=True,
                            capture_output=True, timeout=60, check=False,
                            env={**os.environ, "ORCH_WORKTREE": str(worktree)})  # fmt: skip
    assert hooked.returncode == 0, hooked
    assert json.loads((worktree / ".orch" / "hooks.jsonl").read_text())["event"] == "PreToolUse"
    made = orch("init", str(plain / "fleet"), cwd=plain)
    assert made.returncode == 0, made
    assert orch("validate", cwd=plain / "fleet").returncode == 0


@pytest.mark.parametrize(
    "args",
    [["bogus"], ["plan", "--bogus"], ["logs"], ["--root"], ["logs", "w", "-n", "many"], ["init"]],
)
def test_a_usage_error_exits_64_never_plans_2(plain: Path, args: list[str]) -> None:
    done = orch(*args, cwd=plain)
    assert done.returncode == 64, done
    assert "Error: " in done.stderr


def test_a_missing_agent_program_is_a_warning_and_a_failed_start(fleet: Fleet) -> None:
    fleet.base()
    ghost = fleet.document("Agent", "ghost", {"command": ["orch-test-no-such-agent", "-p"]})
    fleet.write("specs/ghost.yaml", fleet.dump(ghost))
    fleet.workers({"w1": {"agent": "ghost"}})
    done = fleet.cli("validate")
    assert done.returncode == 0, done
    assert done.stderr == (
        "warning: specs/ghost.yaml:4:3: Agent/ghost: program \"orch-test-no-such-agent\" is not on "
        "PATH; its workers would fail to start here\n")  # fmt: skip
    result = fleet.reconcile(check=False)
    (failed,) = [e for e in result.events if not e.ok]
    assert failed.verb == "start-agent" and failed.worker == "w1"
    assert 'agent ghost: program "orch-test-no-such-agent" is not on PATH' in str(failed.error)
    assert fleet.window("w1") is None  # no window opened to exit 127 again and again
    assert "is not on PATH" in fleet.state("w1")["error"]
