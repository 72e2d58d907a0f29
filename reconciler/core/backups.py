"""Backup refs as people read them: whose, when, and what each holds (pure).

A teardown writes ``refs/orch/backups/<worker>/<UTC time>[-n]``
(:mod:`reconciler.drivers.git_backup`). Its commit is the worktree's HEAD when
nothing else was there, or a commit orch made whose tree is the work tree
(tracked changes and untracked files) and whose parents are HEAD and the
commits only the reflog knew: its diff against HEAD is the uncommitted work.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PREFIX = "refs/orch/backups/"
_STAMP = re.compile(r"(\d{8}T\d{6}Z)(?:-(\d+))?")


@dataclass(frozen=True)
class Backup:
    """One backup ref and what it holds."""

    ref: str
    repo: str
    worker: str
    time: float | None
    commit: str
    head: str  # the worktree's HEAD at teardown
    extra: tuple[str, ...] = ()  # commits only its reflog knew
    changed: tuple[str, ...] = ()  # tracked files with uncommitted changes
    untracked: tuple[str, ...] = ()  # files git did not track (new files)
    commits: int = 0  # commits not on the repo's default branch
    unique: int = 0  # of those, commits no branch reaches: only this backup keeps them

    def summary(self) -> str:
        """``3 commits (1 on no branch), 2 changed, 1 untracked``."""
        parts = [f"{self.commits} commit{'s' if self.commits != 1 else ''}"
                 + (f" ({self.unique} on no branch)" if self.unique else "")]  # fmt: skip
        if self.changed:
            parts.append(f"{len(self.changed)} changed")
        if self.untracked:
            parts.append(f"{len(self.untracked)} untracked")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (``time`` as ISO-8601 UTC)."""
        stamp = None if self.time is None else time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                              time.gmtime(self.time))  # fmt: skip
        return {
            "ref": self.ref, "repo": self.repo, "worker": self.worker, "time": stamp,
            "commit": self.commit, "head": self.head, "reflogCommits": list(self.extra),
            "commits": self.commits, "commitsOnNoBranch": self.unique,
            "changed": list(self.changed), "untracked": list(self.untracked),
        }  # fmt: skip


def parse_ref(ref: str) -> tuple[str, float | None] | None:
    """(worker, time) of a backup ref; None when it is not ``<worker>/<stamp>[-n]``.

    Examples
    --------
    >>> parse_ref("refs/orch/backups/w1/20261201T101500Z-2")
    ('w1', 1796120100.0)
    >>> parse_ref("refs/orch/backups/nested") is None
    True
    """
    rest = ref.removeprefix(PREFIX)
    worker, _, stamp = rest.rpartition("/")
    match = _STAMP.fullmatch(stamp)
    if not worker or "/" in worker or match is None:
        return None
    return worker, float(calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%SZ")))


def split_files(files: Sequence[tuple[str, str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(changed, untracked) from a diff of the work tree against HEAD (``A`` = new file).

    Examples
    --------
    >>> split_files([("M", "a.py"), ("A", "notes.md"), ("D", "old.txt")])
    (('a.py', 'old.txt'), ('notes.md',))
    """
    changed = tuple(path for status, path in files if status != "A")
    return changed, tuple(path for status, path in files if status == "A")


def restore_branch(backup: Backup, existing: set[str]) -> str:
    """A new branch name for restoring ``backup``: ``restored/<worker>-<stamp>[-n]``.

    Examples
    --------
    >>> b = Backup("refs/orch/backups/w1/20261201T101500Z", "app", "w1", 0.0, "c", "c")
    >>> restore_branch(b, set())
    'restored/w1-20261201T101500Z'
    >>> restore_branch(b, {"restored/w1-20261201T101500Z"})
    'restored/w1-20261201T101500Z-2'
    """
    name = f"restored/{backup.worker}-{backup.ref.rsplit('/', 1)[-1]}"
    n, candidate = 1, name
    while candidate in existing:
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def find(backups: Sequence[Backup], ref: str) -> list[Backup]:
    """The backups ``ref`` names: the full ref, or ``<worker>/<stamp>`` (with ``repo:``).

    Examples
    --------
    >>> b = Backup("refs/orch/backups/w1/20261201T101500Z", "app", "w1", 0.0, "c", "c")
    >>> [x.repo for x in find([b], "w1/20261201T101500Z")], find([b], "app:w1/x")
    (['app'], [])
    """
    repo, _, name = ref.rpartition(":") if ":" in ref else ("", "", ref)
    full = name if name.startswith("refs/") else PREFIX + name
    return [b for b in backups if b.ref == full and (not repo or b.repo == repo)]
