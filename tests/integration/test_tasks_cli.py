"""`orch task` on a control repo made by `orch init`, through the real CLI and real git.

git itself says what changed: after each command ``git diff --numstat`` must
show exactly the lines the command moved, and nothing else in the files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).parent / "orch"
ORCH = [str(_SCRIPT)] if _SCRIPT.is_file() else [
    sys.executable, "-c", "from reconciler.cli.app import main; main()"]  # fmt: skip

BACKLOG = (
    "# Backlog\r\n\r\nOur notes, *as we* write them.  \r\n\r\n"
    "- [ ] T-1 [self] Add a test for scripts/demo-agent.sh\r\n"
    "+ [ ] T-4 Tidy   the README\r\n"
    "- [ ] tidy without an id\r\n"
    "- a plain bullet is a note\r\n"
    "\r\n## Later\r\n\r\n- [ ] T-4 the same id again\r\n"
)


def orch(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*ORCH, "--root", str(root), *args],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done
    return done


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def numstat(root: Path) -> dict[str, tuple[int, int]]:
    """Lines added and removed per tracked file, and untracked files as (-1, -1)."""
    out = {}
    for line in git(root, "diff", "--numstat").splitlines():
        added, removed, path = line.split("\t")
        out[path] = (int(added), int(removed))
    for path in git(root, "ls-files", "--others", "--exclude-standard").splitlines():
        out[path] = (-1, -1)
    return out


@pytest.fixture
def control(tmp_path: Path) -> Path:
    root = tmp_path / "ctl"
    assert orch(tmp_path, "init", str(root)).returncode == 0
    (root / "tasks" / "backlog.md").write_bytes(BACKLOG.encode())
    git(root, "commit", "-qam", "our own backlog")
    return root


def test_add_start_done_move_exactly_the_right_lines(control: Path) -> None:
    done = orch(control, "task", "add", "Prove reward distribution", "--repo", "self")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "added T-5 to tasks/backlog.md:13"  # after the file's last task
    assert numstat(control) == {"tasks/backlog.md": (1, 0)}
    new = (control / "tasks" / "backlog.md").read_bytes().decode()
    lines = BACKLOG.split("\r\n")
    assert new == "\r\n".join(
        [*lines[:12], "- [ ] T-5 [self] Prove reward distribution", *lines[12:]]
    )
    git(control, "commit", "-qam", "add")

    assert orch(control, "task", "start", "T-5").returncode == 0
    assert numstat(control) == {"tasks/backlog.md": (0, 1), "tasks/active.md": (1, 0)}
    assert (control / "tasks" / "backlog.md").read_bytes().decode() == BACKLOG
    assert (control / "tasks" / "active.md").read_text() == (
        "# Active\n\n- [ ] T-5 [self] Prove reward distribution\n"
    )
    git(control, "commit", "-qam", "start")

    completed = (control / "tasks" / "completed.md").read_bytes()
    done = orch(control, "task", "done", "t-5")
    assert done.returncode == 0 and "T-5 is completed (tasks/completed.md:5)" in done.stdout
    assert numstat(control) == {"tasks/active.md": (0, 1), "tasks/completed.md": (1, 0)}
    after = (control / "tasks" / "completed.md").read_bytes()
    assert after.startswith(completed)  # append-only
    assert (
        after[len(completed) :]
        .decode()
        .startswith("- [x] T-5 [self] Prove reward distribution (done ")
    )

    listed = json.loads(orch(control, "task", "list", "--json").stdout)
    assert [(t["id"], t["status"], t["repo"]) for t in listed["tasks"]] == [
        ("T-1", "backlog", "self"), ("T-4", "backlog", None), ("T-5", "completed", "self"),
    ]  # fmt: skip
    assert [(p["path"], p["line"]) for p in listed["problems"]] == [
        ("tasks/backlog.md", 7), ("tasks/backlog.md", 12),
    ]  # fmt: skip


NO_ID = 'warning: tasks/backlog.md:7: looks like a task but has no id: "- [ ] tidy without an '
NO_ID += 'id" (use "- [ ] T-<n> text")'


def test_malformed_lines_are_reported_with_file_and_line_and_left_alone(control: Path) -> None:
    done = orch(control, "task", "list", "--repo", "self")
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        NO_ID,
        "warning: tasks/backlog.md:12: duplicate id T-4 (first at tasks/backlog.md:6); left alone",
    ]
    assert "T-1" in done.stdout and "T-4" not in done.stdout  # --repo self
    refused = orch(control, "task", "start", "T-4")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: T-4 is on more than one line (tasks/backlog.md:12")
    assert orch(control, "task", "done", "T-9").returncode == 1
    assert numstat(control) == {}  # nothing written by any of them


def test_assign_appends_to_the_pipelines_workerset_and_validate_passes(control: Path) -> None:
    fleet = (control / "specs" / "fleet.yaml").read_text()
    done = orch(control, "task", "assign", "T-1", "--pipeline", "demo")
    assert done.returncode == 0, done.stderr
    assert "added to WorkerSet demo: worker demo-t-1" in done.stdout
    assert numstat(control) == {
        "specs/fleet.yaml": (1, 0), "tasks/backlog.md": (0, 1), "tasks/active.md": (1, 0),
    }  # fmt: skip
    assert (control / "specs" / "fleet.yaml").read_text() == fleet.replace(
        '    - {id: c, topic: "write a test"}\n',
        '    - {id: c, topic: "write a test"}\n    - {id: t-1, task: T-1, title: Add a test for '
        "scripts/demo-agent.sh, topic: Add a test for scripts/demo-agent.sh, repo: self}\n",
    )
    assert (
        orch(control, "validate").stdout.strip() == "ok: 4 workers, 1 repos, 1 pipelines, 1 agents"
    )
    workers = json.loads(orch(control, "get", "workers", "--json").stdout)["workers"]
    assert [w["name"] for w in workers if w["name"] == "demo-t-1"] == ["demo-t-1"]
    again = orch(control, "task", "assign", "T-1", "--pipeline", "demo")
    assert again.returncode == 1 and "already an item of WorkerSet demo" in again.stderr


def test_assign_creates_a_workerset_that_starts_a_worker_once_committed(
    control: Path, tmux_socket: str
) -> None:
    (control / "specs" / "proof.yaml").write_text(
        "apiVersion: orch/v1\nkind: Pipeline\nmetadata: {name: proof}\nspec:\n  stages:\n"
        "    - {name: optimize, prompt: playbooks/prompts/optimize.md.j2}\n"
    )
    git(control, "add", ".")
    git(control, "commit", "-qm", "a pipeline without workers")
    done = orch(control, "task", "assign", "T-1", "--pipeline", "proof", "--agent", "demo")
    assert done.returncode == 0, done.stderr
    assert "created WorkerSet tasks-proof: worker self-t-1" in done.stdout
    assert set(numstat(control)) == {
        "specs/tasks-proof.yaml", "config/tasks-proof.yaml", "tasks/backlog.md", "tasks/active.md",
    }  # fmt: skip
    assert orch(control, "validate").returncode == 0
    git(control, "add", ".")
    git(control, "commit", "-qm", "assign T-1")
    plan = orch(control, "plan", env={"ORCH_TMUX_SOCKET": tmux_socket})
    assert plan.returncode == 2
    assert "create-worktree self-t-1: new worker" in plan.stdout


def test_an_assign_the_workerset_cannot_take_changes_nothing(control: Path) -> None:
    path = control / "specs" / "fleet.yaml"
    text = path.read_text().replace("demo-{{ item.id }}", "demo-{{ item.issue }}")
    for n, item in enumerate("abc", 1):
        text = text.replace(f"{{id: {item}, ", f"{{issue: {n}, id: {item}, ")
    path.write_text(text)
    git(control, "commit", "-qam", "items by issue")
    done = orch(control, "task", "assign", "T-1", "--pipeline", "demo")
    assert done.returncode == 1
    assert done.stderr.startswith("error: the task does not fit WorkerSet demo: specs/fleet.yaml:")
    assert numstat(control) == {}


def test_assign_refuses_a_set_that_would_put_the_task_on_another_repo(control: Path) -> None:
    assert orch(control, "task", "add", "Port it", "--repo", "other").returncode == 0
    git(control, "commit", "-qam", "a task for another repo")
    done = orch(control, "task", "assign", "T-5", "--pipeline", "demo")
    assert done.returncode == 1
    assert "WorkerSet demo puts its workers on repo self, not other" in done.stderr
    assert numstat(control) == {}
    unknown = orch(control, "task", "assign", "T-5", "--pipeline", "nope")
    assert unknown.returncode == 1 and 'unknown pipeline "nope" (known: demo)' in unknown.stderr
