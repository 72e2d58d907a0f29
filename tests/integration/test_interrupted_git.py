"""A `git worktree add` killed half-way (the watcher killed, the machine down).

git marks a worktree it is still making ``locked initializing``; killed then, it
leaves the branch, a folder with no HEAD commit or a partial checkout and no
index. orch must never hand such a folder to an agent (its first commit would
fail, or delete every file git had not written yet) nor fail to remove it: it
moves the folder whole into the archive and makes the worktree again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
ZERO = "0" * 40


def half_made(fleet: Fleet, worker: str, *, head: str | None) -> Path:
    """The worktree of ``worker`` as a killed `git worktree add` leaves it; its admin folder."""
    desired = fleet.load()
    path = desired.worktree_path(desired.workers[worker])
    branch = f"orch/{worker}"
    fleet.git(fleet.repo, "worktree", "add", "-q", "-b", branch, str(path), "main")
    fleet.git(fleet.repo, "update-ref", f"refs/orch/owned/{desired.config.fleet_name}/{branch}",
              "main")  # fmt: skip
    admin = fleet.repo / ".git" / "worktrees" / worker
    (admin / "locked").write_text("initializing")
    (admin / "index").unlink()
    if head is not None:
        (admin / "HEAD").write_text(head + "\n")
    for entry in path.iterdir():  # git had written none of the files yet
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return path


def assert_whole(fleet: Fleet, path: Path, worker: str) -> None:
    assert (path / "README.md").read_text() == "# test repo\n"
    assert fleet.git(path, "symbolic-ref", "HEAD").stdout.strip() == f"refs/heads/orch/{worker}"
    assert fleet.git(path, "status", "--porcelain").stdout == ""  # index and files agree
    listing = fleet.git(fleet.repo, "worktree", "list", "--porcelain").stdout
    assert "locked" not in listing


def test_a_worktree_without_a_head_commit_is_set_aside_and_made_again(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    path = half_made(fleet, "w1", head=ZERO)
    assert ("create-worktree", "w1") in [(a.verb.value, a.worker) for a in fleet.plan().actions]

    result = fleet.reconcile()

    [made] = [e for e in result.events if e.verb == "create-worktree"]
    assert made.reason.startswith("its worktree was left half-made (git interrupted)")
    aside = Path(made.detail["setAside"])
    assert (aside / ".git").is_file() and aside.is_relative_to(fleet.root / "state" / "archive")
    assert_whole(fleet, path, "w1")
    assert [e.verb for e in result.events if e.worker == "w1"][-1] == "start-agent"


def test_a_partial_checkout_is_never_handed_to_an_agent(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    path = half_made(fleet, "w1", head=None)  # HEAD on the branch, files and index missing

    fleet.reconcile()

    assert_whole(fleet, path, "w1")
    base = fleet.git(fleet.repo, "rev-parse", "main").stdout
    assert fleet.git(fleet.repo, "rev-parse", "orch/w1").stdout == base  # no commit deleting files


def test_removing_a_worker_whose_worktree_is_half_made_keeps_the_folder(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    fleet.reconcile()
    path = fleet.worktree("w1")
    (path / "draft.txt").write_text("unsaved\n")
    admin = fleet.repo / ".git" / "worktrees" / "w1"
    (admin / "locked").write_text("initializing")
    (admin / "HEAD").write_text(ZERO + "\n")  # nothing a backup ref could point at

    fleet.workers(["w2"])
    events = list(fleet.reconcile(allow_mass_prune=True).events)

    [removal] = [e for e in events if e.verb == "remove-worktree"]
    assert removal.ok, removal.error
    assert (Path(removal.detail["setAside"]) / "draft.txt").read_text() == "unsaved\n"
    assert not path.exists()
    assert "w1" not in fleet.git(fleet.repo, "worktree", "list").stdout
    assert "w1" not in fleet.status()
