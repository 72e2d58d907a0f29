"""Each repo's worktrees and each worktree's reflog, found from the files git keeps.

A pass reads ``.git/worktrees/<id>/`` as files (:mod:`reconciler.drivers.git_meta`,
decided by :mod:`reconciler.core.git_worktrees`) instead of running ``git
worktree list``; a layout it cannot read (``.git`` a file) still asks git.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from reconciler.core.errors import DriverError
from reconciler.core.git_worktrees import worktrees_from_files
from reconciler.core.model import Desired, WorkerState
from reconciler.core.observed import WorktreeEntry, parse_worktrees
from reconciler.drivers.git import Git
from reconciler.drivers.git_meta import read_repo

_REFLOGS: dict[str, str] = {}  # worktree -> its HEAD's reflog; fixed while the worktree lives


def repo_paths(desired: Desired, states: Iterable[WorkerState]) -> set[Path]:
    """The repos of the specs and of the state files that exist on disk."""
    paths = {r.local_path for r in desired.repos.values()}
    paths |= {Path(p) for p in {s.repo_path for s in states if s.repo_path}}  # a few repos
    return {p for p in paths if p.exists()}


def worktree_lists(paths: Iterable[Path]) -> dict[str, tuple[WorktreeEntry, ...]]:
    """Each repo's worktrees, read from the files git keeps (no process); git for other layouts."""
    out = {}
    for path in sorted(paths):
        try:
            raw = read_repo(str(path))
            if raw is not None:
                out[str(path)] = worktrees_from_files(raw)
                continue
        except OSError:
            pass  # unreadable metadata: git says why, or lists nothing
        try:
            out[str(path)] = parse_worktrees(Git(path).worktree_list())
        except DriverError:
            out[str(path)] = ()
    return out


def remember_reflogs(worktrees: Mapping[str, tuple[WorktreeEntry, ...]]) -> None:
    """Note each listed worktree's reflog: found then without reading ``<worktree>/.git``."""
    for entries in worktrees.values():
        _REFLOGS.update((e.path, f"{e.admin}/logs/HEAD") for e in entries if e.admin)


def commit_mtime(worktree: Path) -> float | None:
    """When the worktree's HEAD last moved: the mtime of its reflog (no git call)."""
    key = str(worktree)
    cached = _REFLOGS.get(key)
    if cached is not None:
        found = _mtime(cached)
        if found is not None:
            return found
    try:
        pointer = (worktree / ".git").read_text().strip()
    except OSError:
        return None
    if not pointer.startswith("gitdir:"):
        return None
    gitdir = Path(pointer.removeprefix("gitdir:").strip())
    if not gitdir.is_absolute():
        gitdir = worktree / gitdir
    _REFLOGS[key] = str(gitdir / "logs" / "HEAD")
    return _mtime(_REFLOGS[key])


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
