"""Lossless teardown: whatever a worktree held is reachable or archived after it is removed.

Each scenario ends with ``git fsck --unreachable``: none of the worker's commits
may be left unreachable (a backup ref must reach them), and the archive under
state/archive/ holds .orch/, git-ignored files and nested repositories.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
Retry = Callable[..., object]


def unreachable(fleet: Fleet) -> set[str]:
    """Commits of the target repo no ref reaches (reflogs do not count)."""
    done = fleet.git(fleet.repo, "fsck", "--unreachable", "--no-reflogs", "--no-progress")
    return {
        line.split()[2]
        for line in done.stdout.splitlines()
        if line.startswith("unreachable commit")
    }


def commit(path: Path, name: str, text: str) -> str:
    (path / name).write_text(text)
    subprocess.run(["git", "-C", str(path), "add", name], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", f"add {name}"], check=True)
    return subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def backups(fleet: Fleet, worker: str) -> list[str]:
    out = fleet.git(
        fleet.repo, "for-each-ref", "--format=%(refname)", f"refs/orch/backups/{worker}/"
    )
    return out.stdout.split()


def remove(fleet: Fleet, worker: str, keep: list[str]) -> list[Any]:
    fleet.workers(keep)
    return list(fleet.reconcile(allow_mass_prune=True).events)


@pytest.fixture
def running(fleet: Fleet) -> Fleet:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    fleet.reconcile()
    return fleet


def test_commits_on_a_detached_head_in_a_clean_worktree_are_kept(running: Fleet) -> None:
    wt = running.worktree("w1")
    running.git(wt, "checkout", "-q", "--detach")
    lost = [commit(wt, "a.txt", "a\n"), commit(wt, "b.txt", "b\n")]
    running.git(wt, "checkout", "-q", "orch/w1")  # leave them behind: only the reflog knows them
    assert running.git(wt, "status", "--porcelain").stdout == ""

    remove(running, "w1", ["w2"])

    assert not wt.exists()
    [ref] = backups(running, "w1")
    for sha in lost:
        assert running.git(running.repo, "merge-base", "--is-ancestor", sha, ref).returncode == 0
    assert not set(lost) & unreachable(running)


def test_a_worktree_in_the_middle_of_a_rebase_loses_nothing(running: Fleet) -> None:
    wt = running.worktree("w1")
    mine = commit(wt, "conflict.txt", "mine\n")
    running.git(wt, "checkout", "-q", "-b", "other", "main")
    theirs = commit(wt, "conflict.txt", "theirs\n")
    running.git(wt, "checkout", "-q", "orch/w1")
    assert running.git(wt, "rebase", "other", check=False).returncode != 0  # stops on the conflict
    assert running.git(wt, "status").stdout.count("rebase in progress")

    events = remove(running, "w1", ["w2"])

    assert [e for e in events if not e.ok] == []
    [ref] = backups(running, "w1")
    # The half-resolved conflict, as it stood on disk, is in the backup...
    assert "<<<<<<<" in running.git(running.repo, "show", f"{ref}:conflict.txt").stdout
    # ...and both sides stay reachable (the branch is kept; the rebase's HEAD is backed up).
    assert not {mine, theirs} & unreachable(running)


def test_a_worktree_folder_deleted_by_hand_comes_back_on_the_next_pass(running: Fleet) -> None:
    import shutil

    wt = running.worktree("w1")
    shutil.rmtree(wt)
    running.reconcile()
    assert (wt / ".git").exists()
    assert running.worktrees()[str(wt)] == "orch/w1"
    assert running.window("w1")["pane_dead"] == "0"


def test_two_teardowns_in_one_second_keep_both_backups(running: Fleet) -> None:
    wt = running.worktree("w1")
    (wt / "first.txt").write_text("first\n")
    remove(running, "w1", ["w2"])
    running.workers(["w1", "w2"])
    running.reconcile()
    (running.worktree("w1") / "second.txt").write_text("second\n")
    remove(running, "w1", ["w2"])

    refs = backups(running, "w1")
    assert len(refs) == 2, refs
    files = {
        name
        for ref in refs
        for name in running.git(running.repo, "ls-tree", "--name-only", ref).stdout.split()
    }
    assert {"first.txt", "second.txt"} <= files


def test_ignored_files_dot_orch_and_nested_repos_are_archived(running: Fleet) -> None:
    wt = running.worktree("w1")
    (wt / ".gitignore").write_text("notes.log\nnode_modules/\nscratch/\n")
    (wt / "notes.log").write_text("the agent's own notes\n")
    (wt / "scratch").mkdir()
    (wt / "scratch" / "idea.md").write_text("an idea\n")
    (wt / "node_modules" / "pkg").mkdir(parents=True)
    (wt / "node_modules" / "pkg" / "index.js").write_text("rebuildable\n")
    (wt / ".orch" / "progress.md").write_text("step 3 of 5\n")
    nested = wt / "vendor" / "lib"
    nested.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(nested)], check=True)
    only_here = commit(nested, "lib.txt", "a commit that exists nowhere else\n")
    (nested / "wip.txt").write_text("uncommitted in the nested repo\n")

    events = remove(running, "w1", ["w2"])

    [removal] = [e for e in events if e.verb == "remove-worktree"]
    archive = Path(removal.detail["archive"])
    assert archive.parent == running.root / "state" / "archive" / "w1"
    assert (archive / "orch" / "progress.md").read_text() == "step 3 of 5\n"
    assert (archive / "ignored" / "notes.log").read_text() == "the agent's own notes\n"
    assert (archive / "ignored" / "scratch" / "idea.md").read_text() == "an idea\n"
    assert not (archive / "ignored" / "node_modules").exists()
    assert removal.detail["skippedIgnored"] == ["node_modules/"]
    assert removal.detail["bundles"] == ["vendor/lib"]
    bundle = archive / "nested" / "vendor__lib.bundle"
    clone = running.tmp / "restored"
    subprocess.run(["git", "clone", "-q", str(bundle), str(clone)], check=True)
    assert (
        subprocess.run(
            ["git", "-C", str(clone), "cat-file", "-e", only_here], check=False
        ).returncode
        == 0
    )
    refs = subprocess.run(
        ["git", "-C", str(clone), "ls-remote", str(bundle)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    backup = next(line.split()[0] for line in refs.splitlines() if "refs/orch/backups" in line)
    wip = subprocess.run(
        ["git", "-C", str(clone), "show", f"{backup}:wip.txt"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert wip.stdout == "uncommitted in the nested repo\n"


# -- whose branch -------------------------------------------------------------------------


def test_a_branch_that_existed_before_orch_is_refused_unless_adopted(fleet: Fleet) -> None:
    fleet.git(fleet.repo, "branch", "feature/mine")
    fleet.base("sleep.sh")
    fleet.workers({"w1": {"branch": "feature/mine"}})
    result = fleet.reconcile(check=False)

    [failed] = [e for e in result.events if e.verb == "create-worktree"]
    assert not failed.ok
    assert 'branch "feature/mine" existed before orch created it' in (failed.error or "")
    state = fleet.state("w1")
    assert state["phase"] == "Failed" and "adoptBranch: true" in state["reason"]
    assert fleet.plan().actions == ()  # refused once, not retried every pass
    assert fleet.status()["w1"]["phase"] == "Failed"

    fleet.workers({"w1": {"branch": "feature/mine", "adoptBranch": True}})
    fleet.reconcile()
    assert fleet.worktrees()[str(fleet.worktree("w1"))] == "feature/mine"


def test_a_branch_orch_made_is_its_own_after_a_cleanup(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    fleet.reconcile()
    fleet_name = fleet.load().config.fleet_name
    owned = fleet.git(fleet.repo, "for-each-ref", "--format=%(refname)", "refs/orch/owned/")
    assert owned.stdout.split() == [f"refs/orch/owned/{fleet_name}/orch/w1"]
    done = fleet.cli("cleanup", "w1", "--yes")
    assert done.returncode == 0, done
    fleet.reconcile()  # the kept branch is taken up again, no adoptBranch needed
    assert fleet.worktrees()[str(fleet.worktree("w1"))] == "orch/w1"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"branch": "main"}, 'branch "main" is its base'),
        ({"branch": "main", "base": "orch/x"}, "the repo's default branch"),
        ({"branch": "refs/heads/w1"}, 'without "refs/"'),
        ({"base": "refs/heads/main"}, 'without "refs/"'),
    ],
)
def test_branches_that_are_not_the_workers_own_fail_validation(
    fleet: Fleet, fields: dict[str, str], message: str
) -> None:
    fleet.base("sleep.sh")
    fleet.workers({"w1": fields})
    done = fleet.cli("validate")
    assert done.returncode == 1
    assert "specs/workers.yaml:" in done.stderr and message in done.stderr
    fleet.workers({"w1": {**fields, "adoptBranch": True}})
    if "refs/" not in message:
        assert fleet.cli("validate").returncode == 0


def test_every_teardown_event_names_its_backup(running: Fleet) -> None:
    remove(running, "w1", ["w2"])
    logged = [
        json.loads(line)
        for line in (running.root / "state" / "events.jsonl").read_text().splitlines()
    ]
    [removal] = [e for e in logged if e["verb"] == "remove-worktree"]
    assert removal["detail"]["backup"].startswith("refs/orch/backups/w1/")
    assert removal["detail"]["backup"] in backups(running, "w1")
