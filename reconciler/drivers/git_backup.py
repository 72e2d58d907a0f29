"""Save everything a worktree holds before it is removed: refs, bundles, file lists.

The backup commit reaches the worktree's HEAD even when the tree is clean or
detached (a rebase in progress, commits on no branch), the commits only its
reflog still knows, and uncommitted and untracked work on top (through a
temporary index: neither the files nor the real index change). Its ref name
never collides with an earlier one. Nested repositories are written out as
bundles; git-ignored files are listed for the caller to copy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from reconciler.core.errors import DriverError
from reconciler.drivers.git import DEFAULT_TIMEOUT, ORCH_IDENTITY, run_git

_NO_OBJECT = "0" * 40
_REFLOG_DEPTH = 200  # reflog entries of HEAD looked at for commits no ref reaches


def _verify(cwd: Path, rev: str, timeout: float) -> str | None:
    try:
        return run_git(cwd, "rev-parse", "--verify", "--quiet", rev, timeout=timeout) or None
    except DriverError:
        return None


def _worktree_tree(worktree: Path, head: str, timeout: float) -> str:
    """The tree of HEAD plus every change and untracked (not ignored) file, in a temp index."""
    with tempfile.TemporaryDirectory(prefix="orch-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        run_git(worktree, "read-tree", head, env=env, timeout=timeout)
        run_git(worktree, "add", "-A", env=env, timeout=timeout)
        return run_git(worktree, "write-tree", env=env, timeout=timeout)


def unreachable_reflog_tips(worktree: Path, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Commits in the worktree's HEAD reflog that no branch, tag or remote reaches."""
    try:
        log = run_git(
            worktree, "log", "-g", f"-n{_REFLOG_DEPTH}", "--format=%H", "HEAD", timeout=timeout
        )
    except DriverError:
        return []  # no reflog (core.logAllRefUpdates off): nothing more to find
    tips = list(dict.fromkeys(line for line in log.splitlines() if line))
    if not tips:
        return []
    lost = run_git(
        worktree, "rev-list", *tips, "--not", "--branches", "--tags", "--remotes",
        timeout=timeout,
    )  # fmt: skip
    found = set(lost.splitlines())
    return [t for t in tips if t in found]


def create_unique_ref(cwd: Path, ref: str, sha: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Point a NEW ref at ``sha``: ``ref``, else ``ref-2``, ``ref-3``... (never overwrite)."""
    for n in range(1, 1000):
        name = ref if n == 1 else f"{ref}-{n}"
        try:
            run_git(cwd, "update-ref", "--create-reflog", name, sha, _NO_OBJECT, timeout=timeout)
        except DriverError as err:
            if "exists" in err.stderr or "unable to lock" in err.stderr.lower():
                continue
            raise
        return name
    raise DriverError("git update-ref", f"no free name after {ref}-999")


def backup_worktree(
    worktree: Path, ref: str, message: str, timeout: float = DEFAULT_TIMEOUT
) -> tuple[str, str]:
    """Write a backup ref reaching everything the worktree holds; return (ref, commit).

    The commit is HEAD itself when the tree is clean and every reflog commit is
    reachable; otherwise a commit with the work tree (tracked changes and
    untracked files, not ignored ones) whose parents are HEAD and the reflog
    commits nothing else reaches.
    """
    head = _verify(worktree, "HEAD^{commit}", timeout)
    if head is None:
        raise DriverError("git rev-parse", f"{worktree}: no HEAD commit to back up")
    tree = _worktree_tree(worktree, head, timeout)
    extra = [t for t in unreachable_reflog_tips(worktree, timeout) if t != head]
    if tree == run_git(worktree, "rev-parse", f"{head}^{{tree}}", timeout=timeout) and not extra:
        sha = head
    else:
        parents = [arg for parent in (head, *extra) for arg in ("-p", parent)]
        sha = run_git(
            worktree, "commit-tree", "--no-gpg-sign", tree, *parents, "-m", message,
            env=ORCH_IDENTITY, timeout=timeout,
        )  # fmt: skip
    return create_unique_ref(worktree, ref, sha, timeout), sha


def ignored_paths(worktree: Path, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Git-ignored files and folders (folders end in ``/``), relative to ``worktree``."""
    out = run_git(
        worktree, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory",
        timeout=timeout,
    )  # fmt: skip
    return [p for p in out.split("\0") if p]


def nested_repos(worktree: Path, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Git repositories inside the worktree (untracked or submodules), relative.

    git lists an untracked nested repository as one entry ending in ``/``; one
    inside an ignored folder is copied with that folder instead.
    """
    untracked = run_git(
        worktree, "ls-files", "-z", "--others", "--exclude-standard", timeout=timeout
    ).split("\0")
    staged = run_git(worktree, "ls-files", "-z", "-s", timeout=timeout).split("\0")
    gitlinks = [line.split("\t", 1)[1] for line in staged if line.startswith("160000 ")]
    candidates = [p.rstrip("/") for p in untracked if p.endswith("/")] + gitlinks
    return sorted({p for p in candidates if (worktree / p / ".git").exists()})


def bundle_repo(repo: Path, dest: Path, message: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Back up a nested repository's work to a ref in it, then bundle all its refs at ``dest``.

    Returns False when it holds no commit at all (there is nothing to bundle).
    """
    if _verify(repo, "HEAD^{commit}", timeout) is None:
        return False
    backup_worktree(repo, "refs/orch/backups/nested", message, timeout)
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_git(repo, "bundle", "create", "--quiet", str(dest), "--all", timeout=timeout)
    return True


BACKUPS = "refs/orch/backups/"
WORK_SUBJECT = "orch: backup of "  # the subject of a commit backup_worktree made for the work


def backup_refs(repo: Path, timeout: float = DEFAULT_TIMEOUT) -> list[tuple[str, str, str, str]]:
    """(ref, commit, parents, subject) of every backup ref in ``repo``: one for-each-ref."""
    out = run_git(
        repo, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(parent)%00%(subject)",
        BACKUPS, timeout=timeout,
    )  # fmt: skip
    rows = [line.split("\0") for line in out.splitlines() if line]
    return [(r[0], r[1], r[2], r[3]) for r in rows if len(r) == 4]


def work_files(
    repo: Path, commits: dict[str, str], timeout: float = DEFAULT_TIMEOUT
) -> dict[str, list[tuple[str, str]]]:
    """Files each work commit changed against its first parent, as (status, path).

    ``commits`` maps commit -> first parent; one ``diff-tree --stdin`` for all.
    """
    if not commits:
        return {}
    lines = "".join(f"{c} {p}\n" for c, p in commits.items())
    out = run_git(
        repo, "diff-tree", "--stdin", "-r", "--no-renames", "--name-status", "-z",
        stdin=lines.encode(), timeout=timeout,
    )  # fmt: skip
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    fields = out.split("\0")
    i = 0
    while i < len(fields):
        field = fields[i].strip()
        if len(field) == 40 and field in commits:  # the header line of the next commit
            current = found.setdefault(field, [])
            i += 1
        elif field and i + 1 < len(fields):
            current.append((field, fields[i + 1]))
            i += 2
        else:
            i += 1
    return found


def commits_beyond(
    repo: Path, tips: list[str], not_on: list[str], timeout: float = DEFAULT_TIMEOUT
) -> list[str]:
    """Commits ``tips`` reach that none of ``not_on`` do (``--branches`` allowed)."""
    if not tips:
        return []
    return run_git(repo, "rev-list", *tips, "--not", *not_on, timeout=timeout).split()


def branch_from(repo: Path, branch: str, commit: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Create ``branch`` at ``commit``; refuses (DriverError) when it exists already."""
    run_git(repo, "update-ref", f"refs/heads/{branch}", commit, _NO_OBJECT, timeout=timeout)
