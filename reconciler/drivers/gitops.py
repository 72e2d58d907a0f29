"""git on the control repo itself: revision, fast-forward pull, report commits, push.

Report commits go through a temporary index so that whatever the user has
staged stays staged; only the committed paths' index entries are refreshed.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from pathlib import Path

from reconciler.core.errors import DriverError
from reconciler.drivers.git import ORCH_IDENTITY, commit_on_head, run_git


def revision(root: Path, paths: tuple[str, ...] = ("specs", "config")) -> tuple[str, str] | None:
    """Short sha and subject of the last commit touching ``paths``, or None."""
    out = run_git(root, "log", "-1", "--format=%h%x00%s", "--", *paths)
    if not out:
        return None
    sha, _, subject = out.partition("\0")
    return sha, subject


def dirty(root: Path, paths: tuple[str, ...] = ("specs", "config")) -> list[str]:
    """Files under ``paths`` with uncommitted changes (``git status --porcelain``)."""
    out = run_git(root, "status", "--porcelain", "--untracked-files=all", "--", *paths)
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
    run_git(root, "reset", "-q", "--", *paths)  # refresh only these index entries
    return sha


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


def push(root: Path, tries: int = 3) -> int:
    """Push the current branch; on a non-fast-forward, rebase on the upstream and retry.

    The user's uncommitted work is stashed around the rebase and restored with its
    index; a rebase that conflicts is aborted, leaving the repo as it was.
    Returns how many tries it took. Raises DriverError after ``tries`` failures.
    """
    for attempt in range(1, tries + 1):
        try:
            run_git(root, "push", "--quiet")
        except DriverError as err:
            if attempt == tries:
                raise
            _rebase_on_upstream(root, err)
        else:
            return attempt
    raise DriverError("git push", f"not tried (tries={tries})")


def _rebase_on_upstream(root: Path, cause: DriverError) -> None:
    stashed = bool(run_git(root, "status", "--porcelain", "--untracked-files=no"))
    if stashed:
        run_git(root, "stash", "push", "--quiet", "-m", "orch: around a report rebase")
    try:
        run_git(root, "pull", "--rebase", "--quiet")
    except DriverError as err:
        with contextlib.suppress(DriverError):  # the pull may fail before the rebase
            run_git(root, "rebase", "--abort")
        raise DriverError(
            "git push",
            f"rejected ({cause.stderr}); rebasing on the "
            f"remote failed and was undone: {err.stderr}",
        ) from err
    finally:
        if stashed:
            run_git(root, "stash", "pop", "--index", "--quiet")


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
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "cat-file", "--batch"],
            input="".join(f"{sha}\n" for _, sha in blobs).encode(),
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        raise DriverError("git cat-file", f"timed out after {timeout:g}s") from err
    if done.returncode != 0:
        raise DriverError("git cat-file", done.stderr.decode(errors="replace"))
    out, pos, files = done.stdout, 0, {}
    for path, _ in blobs:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        files[path] = out[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1  # the content, then a newline
    return files


def git_dirs(root: Path) -> tuple[Path, Path]:
    """(git dir, common git dir) of the control repo: HEAD is in the first, refs in the second."""
    out = run_git(root, "rev-parse", "--absolute-git-dir", "--git-common-dir").splitlines()
    return Path(out[0]), (root / out[1]).resolve()
