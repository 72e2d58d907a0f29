"""Read the files git keeps about a repository's worktrees, without running git.

``git worktree list`` is a process per repo and pass; the files it reads are
read here instead (what they mean: :mod:`reconciler.core.git_worktrees`).
Only the two common layouts are read: ``<repo>/.git`` a folder, or ``<repo>``
itself a bare repository. Anything else (``.git`` a file: the repo is itself
a linked worktree or a submodule) returns None, and the caller asks git.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RawLinked:
    """One ``worktrees/<id>/`` folder: its path, its files (None: absent), its gitdir's target."""

    folder: str
    gitdir: str | None
    head: str | None
    locked: str | None
    target_exists: bool


@dataclass(frozen=True)
class RawRepo:
    """The common dir of a repository, its HEAD and config, and its linked worktrees."""

    common_dir: str
    head: str | None
    config: str
    linked: tuple[RawLinked, ...]
    bare_layout: bool
    tips: dict[str, str]  # branch -> commit, for every branch a worktree has checked out


def _read(path: str) -> str | None:
    # os.open/os.read: a fifth of open()'s cost, and a cold read is four files a worktree
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except IsADirectoryError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _common_dir(repo: Path) -> tuple[Path, bool] | None:
    """(real path of the common dir, whether the repo is a bare layout), or None: ask git."""
    dot_git = repo / ".git"
    if dot_git.is_dir():
        return dot_git.resolve(), False
    bare = (repo / "objects").is_dir() and (repo / "HEAD").is_file()
    if bare and not (dot_git.exists() or dot_git.is_symlink()):
        return repo.resolve(), True
    return None


# folder -> ((mtimes), gitdir, HEAD, locked). git replaces HEAD and adds or removes
# `locked` by renaming into the folder, which moves the folder's mtime; `worktree move`
# and `repair` rewrite gitdir in place, which moves its own. Unchanged, they are not read
# again (a thousand worktrees: two stats each instead of three opens). A stamp younger
# than RACY_NS is never trusted: a second change within the clock's tick keeps the mtime.
_FILES: dict[str, tuple[tuple[int, int], str | None, str | None, str | None]] = {}
RACY_NS = 2_000_000_000


def _stamp(folder: str) -> tuple[int, int] | None:
    try:
        ours = os.stat(folder).st_mtime_ns
        gitdir = os.stat(f"{folder}/gitdir").st_mtime_ns
    except OSError:
        return None
    return (ours, gitdir) if max(ours, gitdir) < time.time_ns() - RACY_NS else None


def _linked(folder: str) -> RawLinked:
    stamp = _stamp(folder)
    cached = _FILES.get(folder)
    if stamp is None or cached is None or cached[0] != stamp:
        gitdir, head = _read(f"{folder}/gitdir"), _read(f"{folder}/HEAD")
        cached = (stamp or (-1, -1), gitdir, head, _read(f"{folder}/locked"))
        if stamp is not None:
            _FILES[folder] = cached
    _, gitdir, head, locked = cached
    target = (gitdir or "").strip()
    if target and not target.startswith("/"):  # newer git may write it relative to the folder
        target = f"{folder}/{target}"
    return RawLinked(
        folder=folder,
        gitdir=gitdir,
        head=head,
        locked=locked,
        target_exists=bool(target) and _exists(target),
    )


def _exists(path: str) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def read_repo(repo: str) -> RawRepo | None:
    """What git keeps about ``repo``'s worktrees; None for a layout this does not read.

    Raises
    ------
    OSError
        When the common dir cannot be read (permissions).
    """
    found = _common_dir(Path(repo))
    if found is None:
        return None
    common, bare_layout = found
    try:
        with os.scandir(common / "worktrees") as it:
            folders = [e.path for e in it if e.is_dir()]
    except FileNotFoundError:
        folders = []
    head = _read(str(common / "HEAD"))
    linked = tuple(_linked(folder) for folder in folders)
    return RawRepo(
        common_dir=str(common),
        head=head,
        config=_read(str(common / "config")) or "",
        linked=linked,
        bare_layout=bare_layout,
        tips=_tips(str(common), [head, *(w.head for w in linked)]),
    )


def _tips(common: str, heads: list[str | None]) -> dict[str, str]:
    """The commit of each branch a HEAD names: its loose ref, else its line in packed-refs."""
    branches = {h.strip()[4:].strip() for h in heads if h and h.startswith("ref:")}
    tips: dict[str, str] = {}
    packed: dict[str, str] | None = None
    for ref in branches:
        loose = _read(f"{common}/{ref}")
        if loose and not loose.startswith("ref:"):
            tips[ref.removeprefix("refs/heads/")] = loose.strip()
            continue
        if packed is None:
            packed = _packed(_read(f"{common}/packed-refs") or "")
        if ref in packed:
            tips[ref.removeprefix("refs/heads/")] = packed[ref]
    return tips


def _packed(text: str) -> dict[str, str]:
    """``packed-refs``: ref -> commit (peeled ``^`` lines and the header skipped)."""
    refs = {}
    for line in text.splitlines():
        if line and line[0] not in "#^":
            sha, _, ref = line.partition(" ")
            refs[ref.strip()] = sha
    return refs
