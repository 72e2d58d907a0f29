"""The README's "Your first fleet", followed literally by one test, as real `orch` processes.

init, write the README's specs/fleet.yaml, validate, plan, reconcile --watch,
status, attach, describe, then Ctrl-C and cleanup: every command's exit code is
the one the README promises and none prints a traceback. HOME is a temporary
folder (``~/fleet``, ``~/src/myapp``), tmux runs on the test's private socket,
and the ``claude`` the built-in profile starts is the fake one of
tests/agents/fake-claude (first on PATH; it hangs like an agent at work).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FAKE_CLAUDE = ROOT / "tests" / "agents" / "fake-claude"
Retry = Callable[..., Any]
ORCH = str(Path(sys.executable).parent / "orch")


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A process as a terminal runs it (no stdin), its output captured."""
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False,
                          timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip


def section(title: str) -> str:
    text = README.read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def fleet_yaml() -> str:
    """The README's specs/fleet.yaml, exactly as printed."""
    blocks = re.findall(r"```yaml\n(.*?)```", section("Your first fleet"), re.DOTALL)
    [block] = [b for b in blocks if b.startswith("# specs/fleet.yaml")]
    return block


class Shell:
    """A terminal: a working folder and an environment; runs `orch` as the README shows."""

    def __init__(self, home: Path, socket: str) -> None:
        self.cwd = home
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "TMUX"))}
        path = f"{FAKE_CLAUDE}:{Path(ORCH).parent}:{env['PATH']}"
        self.env = {**env, "ORCH_TMUX_SOCKET": socket, "FAKE_CLAUDE_CRASH": "", "PATH": path}
        self.said = section("Your first fleet") + section("A tour")

    def orch(self, line: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        """Run ``line`` (an `orch ...` command the README prints); check its exit code."""
        assert line in self.said, f"the README does not say `{line}`"
        argv = [a.replace("~", self.env["HOME"], 1) for a in line.split()[1:]]  # as a shell would
        done = run([ORCH, *argv], self.cwd, self.env)
        assert "Traceback" not in done.stdout + done.stderr, done
        assert done.returncode == expect, done
        return done


def phases(shell: Shell) -> dict[str, str]:
    done = shell.orch("orch status")  # the --json of the same command, for the test to read
    assert done.returncode == 0
    rows = run([ORCH, "status", "--json"], shell.cwd, shell.env).stdout
    # Running with an agent's pid: started, not only what the next pass would make it
    # (a start held by reconcile.startInterval shows the phase its pass will give it).
    return {r["name"]: r["phase"] if r["pid"] else f"{r['phase']} (no agent yet)"
            for r in json.loads(rows)["workers"]}  # fmt: skip


def test_the_readme_first_fleet_end_to_end(tmux_socket: str, retry_until: Retry) -> None:
    home = Path(os.environ["HOME"])
    app = home / "src" / "myapp"  # the README's `path: ~/src/myapp`: your own repo
    app.mkdir(parents=True)
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(["git", "-C", str(app), *args], check=True, capture_output=True)
    shell = Shell(home, tmux_socket)
    shell.env["HOME"] = str(home)

    shell.orch("orch init ~/fleet")  # `.venv/bin/orch init ~/fleet && cd ~/fleet`
    shell.cwd = home / "fleet"
    ignored = run(["git", "check-ignore", "state/", "worktrees/", "clones/"], shell.cwd, shell.env)
    assert ignored.stdout.split() == ["state/", "worktrees/", "clones/"]
    (shell.cwd / "specs" / "fleet.yaml").write_text(fleet_yaml())
    shell.env["ANTHROPIC_API_KEY"] = "sk-ant-test"  # `export ANTHROPIC_API_KEY=sk-ant-...`

    assert shell.orch("orch validate").stdout.startswith("ok: 2 workers")
    plan = shell.orch("orch plan", expect=2)  # exit 2: changes pending
    assert "create-worktree improve-docs" in plan.stdout

    assert "orch reconcile --watch" in shell.said
    log = (home / "watch.log").open("w")
    watcher = subprocess.Popen([ORCH, "reconcile", "--watch"],
                               cwd=shell.cwd, env=shell.env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        running = {"improve-docs": "Running", "improve-tests": "Running"}
        retry_until(lambda: phases(shell) == running, 60, 0.5, "both workers Running")
        status = shell.orch("orch status")
        assert re.search(r"improve-docs\s+Running\s+plan \(1/2\)", status.stdout), status.stdout

        attach = shell.orch("orch attach improve-docs")  # off a terminal: the tmux command
        assert f"tmux -L {tmux_socket} attach-session" in attach.stdout

        describe = _describe(shell)
        watcher.send_signal(signal.SIGINT)  # Ctrl-C stops orch; the agents keep working
        assert watcher.wait(timeout=60) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
        log.close()
    assert "Traceback" not in (home / "watch.log").read_text()
    assert phases(shell) == running  # the agents kept working

    shell.orch("orch cleanup --all --yes")  # stop and remove; uncommitted work is saved first
    assert not (shell.cwd / "worktrees" / "myapp" / "improve-docs").exists()
    saved = run(["git", "for-each-ref", "refs/orch/backups/"], app, shell.env).stdout
    assert len(saved.splitlines()) == 2  # one backup ref a worker
    if describe is not None:
        pytest.skip(describe)


def _describe(shell: Shell) -> str | None:
    """`orch describe improve-docs`; the reason to skip when this orch has no describe yet."""
    if run([ORCH, "describe", "--help"], shell.cwd, shell.env).returncode != 0:
        return "orch describe is not part of this orch yet: the describe step was skipped"
    done = run([ORCH, "describe", "improve-docs"], shell.cwd, shell.env)
    assert "Traceback" not in done.stdout + done.stderr, done
    assert done.returncode == 0, done
    assert "improve-docs" in done.stdout
    return None
