"""git on the control repo itself: revision, fast-forward pull, commits of orch's files.

Spec edits (`orch suspend`) go through a temporary index so that whatever the
user has staged stays staged; only the committed paths' index entries are
refreshed.

Report commits are plumbing only: a blob from bytes, a temporary index
(``GIT_INDEX_FILE``), ``commit-tree`` and ``update-ref`` with the old value, so
a ref that moved meanwhile fails instead of losing a commit. Nothing here
stashes, rebases, checks out or resets; on the current branch the one report
path's index entry is refreshed after its commit, nothing else of the index.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from reconciler.core.errors import DriverError
from reconciler.drivers.git import ORCH_IDENTITY, Git, commit_on_head, run_git, verify


def revision(root: Path, paths: tuple[str, ...] = ("specs", "config")) -> tuple[str, str] | None:
    """Short sha and subject of the last commit touching ``paths``, or None."""
    out = run_git(root, "log", "-1", "--format=%h%x00%s", "--", *paths)
    if not out:
        return None
    sha, _, subject = out.partition("\0")
    return sha, subject


def dirty(root: Path, paths: tuple[str, ...] = ("specs", "config")) -> list[str]:
    """Files under ``paths`` with uncommitted changes (``git status --porcelain``).

    Without optional locks: git does not write back the index's refreshed
    stat data, so a status never races the user's own git commands over
    index.lock (and leaves the index as it found it).
    """
    out = run_git(root, "status", "--porcelain", "--untracked-files=all", "--", *paths,
                  env={"GIT_OPTIONAL_LOCKS": "0"})  # fmt: skip
    return [line[3:] for line in out.splitlines() if line.strip()]


_ORCH = dict(ORCH_IDENTITY)


def _author_env(author: str) -> dict[str, str]:
    match = re.match(r"\s*(.*?)\s*<([^>]*)>\s*$", author)
    name, email = (match.group(1), match.group(2)) if match else (author, "orch@localhost")
    return {
        "GIT_AUTHOR_NAME": name or "orch", "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name or "orch", "GIT_COMMITTER_EMAIL": email,
    }  # fmt: skip


def commit_paths(
    root: Path, paths: list[str], message: str, author: str, *, reflog: str = "orch: report"
) -> str | None:
    """Commit the working-tree content of ``paths`` (only) on top of HEAD.

    Returns the new commit, or None when nothing under ``paths`` changed.
    ``reflog`` is the message of the branch's reflog entry.
    """
    saved = commit_on_head(root, ["-A", "--", *paths], message, _author_env(author))
    if saved is None:
        return None
    head, sha = saved
    run_git(root, "update-ref", "-m", reflog, _current_ref(root), sha, head)
    refresh_index(root, paths)
    return sha


def refresh_index(root: Path, paths: list[str]) -> None:
    """Set only these paths' entries of the real index to their working-tree files.

    Called right after committing exactly those files: the entries then match
    HEAD, and every other entry (what the user staged) is left as it was.
    """
    run_git(root, "update-index", "--add", "--remove", "--", *paths)


def user_identity(root: Path) -> str | None:
    """``Name <email>`` git would record as the author of a commit made in ``root``, or None."""
    try:
        ident = run_git(root, "var", "GIT_AUTHOR_IDENT")
    except DriverError:  # no identity configured
        return None
    name_email, _, _ = ident.rpartition(">")
    return f"{name_email}>" if name_email else None


def _current_ref(root: Path) -> str:
    """``refs/heads/<branch>``, or ``HEAD`` when detached."""
    try:
        return run_git(root, "symbolic-ref", "-q", "HEAD") or "HEAD"
    except DriverError:
        return "HEAD"


def commit_all(root: Path, message: str) -> str:
    """Stage everything in ``root`` and commit it with orch's identity (for `orch init`)."""
    run_git(root, "add", "-A")
    run_git(root, "commit", "-q", "--no-verify", "--no-gpg-sign", "-m", message, env=_ORCH)
    return run_git(root, "rev-parse", "HEAD")


def upstream(root: Path) -> str | None:
    """The current branch's upstream (``origin/main``), or None."""
    try:
        return run_git(root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}") or None
    except DriverError:
        return None


def fetch(root: Path) -> None:
    """``git fetch`` of the current branch's remote."""
    run_git(root, "fetch", "--quiet")


def fast_forward(root: Path) -> tuple[str, str] | None:
    """Fast-forward to the upstream; returns (old, new) when HEAD moved, None when current.

    Raises DriverError when the histories diverged (not a fast-forward).
    """
    up = upstream(root)
    if up is None:
        raise DriverError("git merge", "the current branch has no upstream to pull from")
    old = run_git(root, "rev-parse", "HEAD")
    new = run_git(root, "rev-parse", up)
    if old == new or _is_ancestor(root, new, old):  # current, or only ahead
        return None
    run_git(root, "merge", "--ff-only", "--quiet", up)
    return old, new


def _is_ancestor(root: Path, maybe: str, of: str) -> bool:
    try:
        run_git(root, "merge-base", "--is-ancestor", maybe, of)
    except DriverError:
        return False
    return True


# -- report commits (plumbing only) ------------------------------------------------------

_IN_PROGRESS = (
    ("MERGE_HEAD", "a merge is in progress"),
    ("rebase-merge", "a rebase is in progress"),
    ("rebase-apply", "a rebase or am is in progress"),
    ("CHERRY_PICK_HEAD", "a cherry-pick is in progress"),
    ("REVERT_HEAD", "a revert is in progress"),
    ("BISECT_LOG", "a bisect is in progress"),
)


def checkout_busy(root: Path) -> str | None:
    """What keeps a commit off the current branch now (detached HEAD, a merge...), or None."""
    git_dir = Path(run_git(root, "rev-parse", "--absolute-git-dir"))
    for marker, why in _IN_PROGRESS:
        if (git_dir / marker).exists():
            return why
    if _current_ref(root) == "HEAD":
        return "HEAD is detached"
    if verify(root, "HEAD") is None:
        return "the current branch has no commit yet"
    return None


def current_branch(root: Path) -> str | None:
    """The checked-out branch's name, or None when HEAD is detached."""
    ref = _current_ref(root)
    return ref.removeprefix("refs/heads/") if ref != "HEAD" else None


def checked_out_at(root: Path, branch: str) -> str | None:
    """The worktree of ``root``'s repository that has ``branch`` checked out, or None."""
    return Git(root).checked_out_at(branch)


def file_at(root: Path, rev: str, path: str) -> str | None:
    """The text of ``path`` in commit ``rev``, or None when either does not exist."""
    if verify(root, f"{rev}:{path}") is None:
        return None
    return run_git(root, "cat-file", "blob", f"{rev}:{path}")


def make_commit(
    root: Path, parent: str | None, files: Mapping[str, bytes], message: str, author: str
) -> str | None:
    """A commit of ``parent``'s tree with ``files`` (path -> bytes) written over it.

    Built in a temporary index; no ref moves, the work tree and the real index
    are not read. ``parent`` None makes a root commit of ``files`` alone.
    Returns None when the tree would equal the parent's.
    """
    with tempfile.TemporaryDirectory(prefix="orch-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        run_git(root, "read-tree", *([parent] if parent else ["--empty"]), env=env)
        for path, data in sorted(files.items()):
            blob = run_git(root, "hash-object", "-w", "--stdin", stdin=data)
            run_git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = run_git(root, "write-tree", env=env)
    if parent and tree == run_git(root, "rev-parse", f"{parent}^{{tree}}"):
        return None
    parents = ["-p", parent] if parent else []
    return run_git(
        root, "commit-tree", "--no-gpg-sign", tree, *parents, "-m", message,
        env=_author_env(author),
    )  # fmt: skip


def move_ref(root: Path, ref: str, new: str, old: str | None, reflog: str) -> None:
    """``update-ref ref new old``: fails (DriverError) when ``ref`` is no longer at ``old``.

    ``old`` None: the ref must not exist yet.
    """
    run_git(root, "update-ref", "-m", reflog, ref, new, old or "")


def commit_on_current_branch(
    root: Path, files: Mapping[str, bytes], message: str, author: str
) -> str | None:
    """Commit ``files`` on top of the checked-out branch; the caller wrote them to the work tree.

    The branch moves by ``update-ref`` from the tip the commit was built on;
    then only these paths' index entries are refreshed, so ``git status``
    shows them clean and everything the user staged stays staged.
    """
    ref = _current_ref(root)
    if ref == "HEAD":
        raise DriverError("git update-ref", "HEAD is detached; no report commit")
    parent = run_git(root, "rev-parse", "--verify", f"{ref}^{{commit}}")
    sha = make_commit(root, parent, files, message, author)
    if sha is None:
        return None
    move_ref(root, ref, sha, parent, "orch: report")
    refresh_index(root, sorted(files))
    return sha


def commit_on_branch(
    root: Path, branch: str, files: Mapping[str, bytes], message: str, author: str
) -> str | None:
    """Commit ``files`` on ``branch`` (created when missing), a branch never checked out."""
    ref = f"refs/heads/{branch}"
    parent = branch_tip(root, branch)
    sha = make_commit(root, parent, files, message, author)
    if sha is not None:
        move_ref(root, ref, sha, parent, "orch: report")
    return sha


def branch_tip(root: Path, branch: str) -> str | None:
    """The commit ``refs/heads/<branch>`` points at, or None."""
    return verify(root, f"refs/heads/{branch}")


def pushed(root: Path, branch: str) -> bool:
    """Whether ``branch`` is where the report remote had it after the last push or fetch."""
    tracking = verify(root, f"refs/remotes/{report_remote(root)}/{branch}")
    return tracking is not None and tracking == branch_tip(root, branch)


def report_remote(root: Path) -> str:
    """The remote reports go to: the current branch's, else ``origin``."""
    branch = current_branch(root)
    if branch:
        try:
            return run_git(root, "config", "--get", f"branch.{branch}.remote") or "origin"
        except DriverError:
            pass
    return "origin"


def push_branch(
    root: Path,
    branch: str,
    files: Mapping[str, bytes],
    message: str,
    author: str,
    *,
    tries: int = 3,
    timeout: float = 600.0,
) -> int:
    """Push ``branch`` (orch's alone) to the report remote; returns how many tries it took.

    A rejected push (another host pushed first) fetches the remote's tip and
    makes the report commit again on top of it, with the same ``files``: the
    other hosts' report files stay, ours are replaced. Raises DriverError
    after ``tries`` failures.
    """
    remote, ref = report_remote(root), f"refs/heads/{branch}"
    tracking = f"refs/remotes/{remote}/{branch}"
    for attempt in range(1, tries + 1):
        try:
            run_git(root, "push", "--quiet", remote, f"{ref}:{ref}", timeout=timeout)
        except DriverError as err:
            if attempt == tries:
                raise
            try:
                run_git(root, "fetch", "--quiet", remote, f"+{ref}:{tracking}", timeout=timeout)
            except DriverError:
                raise err from None  # the push's own error says more (no remote, auth)
            tip = run_git(root, "rev-parse", "--verify", tracking)
            old = verify(root, ref)
            sha = make_commit(root, tip, files, message, author) or tip
            move_ref(root, ref, sha, old, "orch: report on the remote tip")
        else:
            return attempt
    raise DriverError("git push", f"not tried (tries={tries})")


def head_commit(root: Path) -> str:
    """The commit HEAD names (DriverError when there is none)."""
    return run_git(root, "rev-parse", "--verify", "HEAD^{commit}")


def committed_files(
    root: Path, paths: tuple[str, ...] = ("specs", "config"), timeout: float = 60.0
) -> dict[str, bytes]:
    """The files under ``paths`` as committed at HEAD: relative path -> bytes.

    Two git calls whatever their number: ``ls-tree`` names the blobs, one
    ``cat-file --batch`` reads them all (bytes as committed, no decoding).
    """
    listing = run_git(root, "ls-tree", "-r", "-z", "HEAD", "--", *paths)  # relative to root
    blobs = []
    for entry in listing.split("\0"):
        meta, _, path = entry.partition("\t")
        if path and meta.split()[1] == "blob":
            blobs.append((path, meta.split()[2]))
    if not blobs:
        return {}
    out = _cat_blobs(root, [sha for _, sha in blobs], timeout)
    pos, files = 0, {}
    for path, _ in blobs:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        files[path] = out[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1  # the content, then a newline
    return files


def _cat_blobs(root: Path, shas: list[str], timeout: float) -> bytes:
    """``git cat-file --batch`` of ``shas``: its raw output (bytes, not decoded)."""
    import git

    feed = "".join(f"{sha}\n" for sha in shas).encode()
    try:
        with tempfile.TemporaryFile() as stdin:
            stdin.write(feed)
            stdin.seek(0)
            out = git.Git(str(root)).execute(
                [str(git.Git.GIT_PYTHON_GIT_EXECUTABLE), "cat-file", "--batch"],
                istream=stdin, stdout_as_string=False, kill_after_timeout=timeout,
            )  # fmt: skip
    except git.GitCommandError as err:
        raise DriverError("git cat-file", str(err.stderr) or f"exit code {err.status}") from err
    assert isinstance(out, bytes)
    return out


def git_dirs(root: Path) -> tuple[Path, Path]:
    """(git dir, common git dir) of the control repo: HEAD is in the first, refs in the second."""
    out = run_git(root, "rev-parse", "--absolute-git-dir", "--git-common-dir").splitlines()
    return Path(out[0]), (root / out[1]).resolve()
