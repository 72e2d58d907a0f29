"""Worktrees read from git's files agree with ``git worktree list --porcelain`` on real repos."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.core.git_worktrees import worktrees_from_files
from reconciler.core.observed import WorktreeEntry, parse_worktrees
from reconciler.drivers.git_meta import read_repo


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True)  # fmt: skip
    return done.stdout


def comparable(entries: tuple[WorktreeEntry, ...]) -> list[WorktreeEntry]:
    """Entries as both sources give them (the metadata folder is the files' own)."""
    return [replace(e, admin=None) for e in entries]


def from_files(repo: Path) -> tuple[WorktreeEntry, ...]:
    raw = read_repo(str(repo))
    assert raw is not None
    return worktrees_from_files(raw)


def from_git(repo: Path) -> tuple[WorktreeEntry, ...]:
    return parse_worktrees(git(repo, "worktree", "list", "--porcelain"))


def add_every_kind(repo: Path, where: Path) -> None:
    """Worktrees on slashed branches, detached, locked with and without reason, prunable."""
    git(repo, "worktree", "add", "-q", "-b", "feature/deep/one", str(where / "one"), "main")
    git(repo, "worktree", "add", "-q", "-b", "plain", str(where / "two"), "main")
    git(repo, "worktree", "add", "-q", "--detach", str(where / "detached"), "main")
    git(repo, "worktree", "add", "-q", "-b", "lock/reason", str(where / "locked"), "main")
    git(repo, "worktree", "lock", "--reason", "  on a usb disk  ", str(where / "locked"))
    git(repo, "worktree", "add", "-q", "-b", "lock/bare", str(where / "locked-bare"), "main")
    git(repo, "worktree", "lock", str(where / "locked-bare"))
    git(repo, "worktree", "add", "-q", "-b", "gone", str(where / "gone"), "main")
    shutil.rmtree(where / "gone")  # prunable: gitdir names a missing folder
    git(repo, "worktree", "add", "-q", "-b", "gone-locked", str(where / "gone-locked"), "main")
    git(repo, "worktree", "lock", str(where / "gone-locked"))
    shutil.rmtree(where / "gone-locked")  # locked: never prunable


def test_every_kind_of_worktree_agrees(git_repo: Path, tmp_path: Path) -> None:
    add_every_kind(git_repo, tmp_path / "wt")
    git(git_repo, "checkout", "-q", "--detach")  # the main worktree detached too
    files, listed = from_files(git_repo), from_git(git_repo)
    assert comparable(files) == comparable(listed)
    kinds = {Path(e.path).name: e for e in files}
    assert kinds["one"].branch == "feature/deep/one"
    main_commit = git(git_repo, "rev-parse", "main").strip()
    assert kinds["detached"].detached and kinds["detached"].head == main_commit
    assert kinds["locked"].locked == "on a usb disk" and kinds["locked-bare"].locked == ""
    assert kinds["gone"].prunable and not kinds["gone-locked"].prunable
    assert files[0].detached and files[0].head == main_commit


def test_a_bare_main_repository_agrees(git_repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(git_repo), str(bare)], check=True)
    add_every_kind(bare, tmp_path / "wt")
    files, listed = from_files(bare), from_git(bare)
    assert files[0].bare and files[0].path == str(bare.resolve())
    assert comparable(files) == comparable(listed)


def test_a_metadata_folder_without_gitdir_is_not_listed(git_repo: Path, tmp_path: Path) -> None:
    git(git_repo, "worktree", "add", "-q", "-b", "b", str(tmp_path / "b"), "main")
    (git_repo / ".git" / "worktrees" / "b" / "gitdir").unlink()
    assert comparable(from_files(git_repo)) == comparable(from_git(git_repo))
    assert len(from_files(git_repo)) == 1


def test_unfinished_add_is_locked_initializing(git_repo: Path, tmp_path: Path) -> None:
    git(git_repo, "worktree", "add", "-q", "-b", "half", str(tmp_path / "half"), "main")
    (git_repo / ".git" / "worktrees" / "half" / "locked").write_text("initializing\n")
    entry = from_files(git_repo)[1]
    assert entry.unfinished and comparable(from_files(git_repo)) == comparable(from_git(git_repo))


@pytest.mark.parametrize("layout", ["dotgit-file", "not-a-repo"])
def test_other_layouts_are_left_to_git(tmp_path: Path, git_repo: Path, layout: str) -> None:
    target = tmp_path / "x"
    if layout == "dotgit-file":
        git(git_repo, "worktree", "add", "-q", "-b", "x", str(target), "main")
    else:
        target.mkdir()
    assert read_repo(str(target)) is None


def test_a_cached_worktree_is_read_again_when_git_changes_it(
    git_repo: Path, tmp_path: Path
) -> None:
    """Files are read once while unchanged; HEAD, lock and gitdir changes are seen."""
    wt = tmp_path / "wt"
    git(git_repo, "worktree", "add", "-q", "-b", "first", str(wt), "main")
    meta = git_repo / ".git" / "worktrees" / "wt"

    def age() -> None:  # old enough to be trusted by the cache
        for path in (meta, meta / "gitdir"):
            os.utime(path, (time.time() - 60, time.time() - 60))

    age()
    assert from_files(git_repo)[1].branch == "first"
    git(wt, "checkout", "-q", "-b", "second")
    assert comparable(from_files(git_repo)) == comparable(from_git(git_repo))
    assert from_files(git_repo)[1].branch == "second"
    age()
    git(git_repo, "worktree", "lock", "--reason", "why", str(wt))
    assert from_files(git_repo)[1].locked == "why"
    git(git_repo, "worktree", "unlock", str(wt))
    age()
    git(git_repo, "worktree", "move", str(wt), str(tmp_path / "moved"))
    assert comparable(from_files(git_repo)) == comparable(from_git(git_repo))
