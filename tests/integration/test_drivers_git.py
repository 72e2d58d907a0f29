"""The git driver against real repositories in tmp_path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.core.errors import DriverError
from reconciler.drivers.git import Git
from reconciler.drivers.git_backup import backup_worktree


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its stdout (test-side checks, not the driver)."""
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    )
    return done.stdout


def listed(repo: Git, path: Path) -> bool:
    return f"worktree {path.resolve()}" in repo.worktree_list().splitlines()


@pytest.fixture
def repo(git_repo: Path) -> Git:
    return Git(git_repo)


def test_worktree_add_creates_branch_from_base(repo: Git, tmp_path: Path) -> None:
    path = tmp_path / "worktrees" / "deep" / "a"
    repo.worktree_add(path, "orch/a", "main", "test-fleet")
    assert repo.branch_exists("orch/a")
    assert repo.rev_parse("orch/a") == repo.rev_parse("main")
    assert repo.head(path) == repo.rev_parse("main")
    text = repo.worktree_list()
    assert f"worktree {path.resolve()}" in text.splitlines()
    assert "branch refs/heads/orch/a" in text.splitlines()
    assert (path / "README.md").exists()


def test_worktree_add_reuses_an_existing_branch(repo: Git, git_repo: Path, tmp_path: Path) -> None:
    first = repo.rev_parse("main~1")
    assert first is not None
    git(git_repo, "branch", "orch/b", first)
    path = tmp_path / "b"
    repo.worktree_add(path, "orch/b", "main", "test-fleet")
    assert repo.head(path) == first
    assert not (path / "README.md").exists()


def test_rev_parse_and_branch_exists_miss_quietly(repo: Git) -> None:
    assert repo.rev_parse("no-such-rev") is None
    assert repo.branch_exists("no/such") is False
    assert repo.rev_parse("main") == git(repo.path, "rev-parse", "main").strip()


def test_ensure_exclude_is_idempotent(repo: Git, git_repo: Path, tmp_path: Path) -> None:
    exclude = git_repo / ".git" / "info" / "exclude"
    exclude.write_text("# no trailing newline")
    repo.ensure_exclude()
    repo.ensure_exclude()
    lines = exclude.read_text().splitlines()
    assert lines == ["# no trailing newline", ".orch/"]

    # From a linked worktree the shared (common) exclude file is the one used.
    path = tmp_path / "c"
    repo.worktree_add(path, "orch/c", "main", "test-fleet")
    Git(path).ensure_exclude()
    assert exclude.read_text().splitlines() == lines
    (path / ".orch").mkdir()
    (path / ".orch" / "progress.md").write_text("notes\n")
    assert repo.untracked(path, 10) == ([], 0)


def test_backup_keeps_files_and_index(repo: Git, tmp_path: Path) -> None:
    repo.ensure_exclude()
    path = tmp_path / "d"
    repo.worktree_add(path, "orch/d", "main", "test-fleet")
    (path / "README.md").write_text("# changed\n")
    (path / "staged.txt").write_text("staged\n")
    git(path, "add", "staged.txt")
    (path / "staged.txt").write_text("staged, then changed\n")
    (path / "new dir").mkdir()
    (path / "new dir" / "untracked.txt").write_text("untracked\n")
    (path / ".orch").mkdir()
    (path / ".orch" / "progress.md").write_text("notes\n")
    before = (git(path, "status", "--porcelain"), git(path, "ls-files", "--stage"))
    head = repo.head(path)

    ref, sha = backup_worktree(path, "refs/orch/backups/d/1", "orch: save d")

    assert ref == "refs/orch/backups/d/1" and sha != head
    assert (git(path, "status", "--porcelain"), git(path, "ls-files", "--stage")) == before
    assert (path / "README.md").read_text() == "# changed\n"
    assert repo.rev_parse("refs/orch/backups/d/1") == sha
    assert repo.head(path) == head
    assert git(path, "rev-parse", f"{sha}^").strip() == head
    assert git(path, "show", f"{sha}:README.md") == "# changed\n"
    assert git(path, "show", f"{sha}:staged.txt") == "staged, then changed\n"
    assert git(path, "show", f"{sha}:new dir/untracked.txt") == "untracked\n"
    files = git(path, "ls-tree", "-r", "--name-only", sha).splitlines()
    assert ".orch/progress.md" not in files
    assert git(path, "log", "-1", "--format=%an <%ae>|%s", sha).strip() == (
        "orch <orch@localhost>|orch: save d"
    )


def test_backup_of_a_clean_worktree_points_at_its_head(repo: Git, tmp_path: Path) -> None:
    path = tmp_path / "e"
    repo.worktree_add(path, "orch/e", "main", "test-fleet")
    ref, sha = backup_worktree(path, "refs/orch/backups/e/1", "orch: save e")
    assert sha == repo.head(path)
    assert repo.rev_parse(ref) == sha


def test_backup_refs_never_collide(repo: Git, tmp_path: Path) -> None:
    path = tmp_path / "n"
    repo.worktree_add(path, "orch/n", "main", "test-fleet")
    first = backup_worktree(path, "refs/orch/backups/n/T", "one")
    (path / "more.txt").write_text("more\n")
    second = backup_worktree(path, "refs/orch/backups/n/T", "two")
    assert (first[0], second[0]) == ("refs/orch/backups/n/T", "refs/orch/backups/n/T-2")
    assert repo.rev_parse(first[0]) == first[1] != second[1] == repo.rev_parse(second[0])


def test_worktree_add_marks_only_the_branches_it_creates(repo: Git, tmp_path: Path) -> None:
    git(repo.path, "branch", "theirs")
    assert repo.worktree_add(tmp_path / "o", "orch/o", "main", "fleet-1") is True
    assert repo.branch_owner("orch/o") == "fleet-1"
    assert repo.worktree_add(tmp_path / "t", "theirs", "main", "fleet-1") is False
    assert repo.branch_owner("theirs") is None
    assert repo.checked_out_at("orch/o") == str((tmp_path / "o").resolve())
    assert repo.checked_out_at("nowhere") is None


def test_worktree_remove_keeps_the_branch(repo: Git, tmp_path: Path) -> None:
    path = tmp_path / "f"
    repo.worktree_add(path, "orch/f", "main", "test-fleet")
    (path / "dirty.txt").write_text("x\n")
    repo.worktree_remove(path)
    assert not listed(repo, path)
    assert not path.exists()
    assert repo.branch_exists("orch/f")
    repo.worktree_remove(path)  # no longer a worktree: no error


def test_worktree_remove_after_folder_deleted_by_hand(repo: Git, tmp_path: Path) -> None:
    path = tmp_path / "g"
    repo.worktree_add(path, "orch/g", "main", "test-fleet")
    subprocess.run(["rm", "-rf", str(path)], check=True)
    repo.worktree_remove(path)
    assert not listed(repo, path)


def test_summary_helpers(repo: Git, tmp_path: Path) -> None:
    path = tmp_path / "h"
    repo.worktree_add(path, "orch/h", "main", "test-fleet")
    (path / "work.txt").write_text("done\n")
    git(path, "add", "work.txt")
    git(path, "commit", "-q", "-m", "add work")
    (path / "README.md").write_text("# more\n")
    for name in ("b.txt", "a.txt", "c d.txt"):
        (path / name).write_text("x\n")

    assert repo.log_oneline(path, "main", 10).split(" ", 1)[1] == "add work"
    assert "README.md" in repo.diff_stat(path)
    names, total = repo.untracked(path, 2)
    assert (names, total) == (["a.txt", "b.txt"], 3)


@pytest.mark.parametrize("make", ["plain folder", "missing"])
def test_not_a_repository_raises(tmp_path: Path, make: str) -> None:
    path = tmp_path / "not-a-repo"
    if make == "plain folder":
        path.mkdir()
    with pytest.raises(DriverError, match="not a git repository"):
        Git(path)


def test_failed_command_names_the_subcommand(repo: Git, tmp_path: Path) -> None:
    with pytest.raises(DriverError, match=r"^git worktree: fatal: .*no-such-base"):
        repo.worktree_add(tmp_path / "x", "orch/x", "no-such-base", "test-fleet")
