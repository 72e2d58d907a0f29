"""Clones of url Repos live in clones/, never in state/: deleting what the README says
may be deleted keeps every branch and backup; a clone left in state/repos/ is moved.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
README = Path(__file__).resolve().parents[2] / "README.md"


def url_fleet(fleet: Fleet, workers: list[str]) -> None:
    """The fleet's Repo ``app`` given by url (the test repo), so orch clones it."""
    fleet.base("sleep.sh")
    path = fleet.root / "specs" / "base.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    docs[0]["spec"] = {"url": str(fleet.repo), "defaultBranch": "main"}
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    fleet.workers(workers)


def refs(repo: Path) -> dict[str, str]:
    argv = ["git", "-C", str(repo), "for-each-ref", "--format=%(refname) %(objectname)",
            "refs/heads/", "refs/orch/"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return dict(line.split() for line in out.stdout.splitlines())


def deletable() -> list[str]:
    """The paths the README's "What you may delete" sentence names, in backticks."""
    text = README.read_text()
    section = text.split("## Runtime state", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"\*\*What you may delete\*\*(.*?)(?:\n\n|$)", section, re.DOTALL)
    assert match, "README's Runtime state section lost its 'What you may delete' advice"
    return re.findall(r"`([^`]+)`", match.group(1).split(". ", 1)[0])


def test_url_repos_are_cloned_outside_state(fleet: Fleet) -> None:
    url_fleet(fleet, ["w1"])
    fleet.reconcile()
    assert (fleet.root / "clones" / "app" / ".git").is_dir()
    assert not (fleet.root / "state" / "repos").exists()


def test_deleting_what_the_readme_allows_keeps_every_branch_and_backup(fleet: Fleet) -> None:
    url_fleet(fleet, ["w1", "w2", "w3"])
    fleet.reconcile()
    clone = fleet.root / "clones" / "app"
    wt = fleet.worktree("w1")
    (wt / "work.txt").write_text("an agent's work\n")
    fleet.git(wt, "add", "work.txt")
    fleet.git(wt, "commit", "-q", "-m", "work")
    fleet.workers(["w2", "w3"])
    fleet.reconcile(allow_mass_prune=True)  # w1 torn down: a backup ref in the clone
    before = refs(clone)
    assert any(r.startswith("refs/orch/backups/w1/") for r in before)
    assert "refs/heads/orch/w1" in before and "refs/heads/orch/w2" in before

    paths = deletable()
    assert paths and all(not p.startswith(("clones", "worktrees")) for p in paths), paths
    for rel in paths:
        target = fleet.root / rel
        assert target.exists(), f"README says to delete {rel}, which the fleet does not have"
        shutil.rmtree(target)

    assert refs(clone) == before  # every branch and backup
    assert fleet.worktree("w2").is_dir()
    fleet.reconcile()  # and the fleet carries on from the same clone
    assert refs(clone).items() >= before.items()
    assert fleet.git(fleet.worktree("w2"), "status", "--porcelain").returncode == 0


def test_a_clone_left_in_state_repos_is_moved_not_cloned_again(fleet: Fleet) -> None:
    url_fleet(fleet, ["w1", "w2"])
    fleet.reconcile()
    clone = fleet.root / "clones" / "app"
    # An older orch cloned into state/repos/: put the clone (and its worktrees' links) there.
    old = fleet.root / "state" / "repos" / "app"
    old.parent.mkdir(parents=True)
    clone.rename(old)
    subprocess.run(["git", "-C", str(old), "worktree", "repair",
                    str(fleet.worktree("w1")), str(fleet.worktree("w2"))], check=True)  # fmt: skip
    fleet.git(old, "branch", "only-in-the-old-clone", "main")
    before = refs(old)

    result = fleet.reconcile()

    moved = [e for e in result.events if e.verb == "move-clone"]
    assert len(moved) == 1 and moved[0].detail["worktrees"] == 2, result.events
    assert not old.exists()
    assert refs(clone).items() >= before.items()  # nothing re-cloned: the old branch is there
    assert not [e for e in result.events if e.verb in ("clone-repo", "create-worktree")]
    for w in ("w1", "w2"):
        status = fleet.git(fleet.worktree(w), "status", "--porcelain", check=False)
        assert status.returncode == 0, status.stderr
    assert fleet.status()["w1"]["phase"] == "Running"
