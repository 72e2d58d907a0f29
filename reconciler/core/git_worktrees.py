"""A repository's worktrees from the files git keeps, as ``git worktree list --porcelain`` says.

Observing a fleet of a thousand workers with ``git worktree list`` costs a git
process per repo on every pass, and git itself reads the same files this
module is handed: ``<common dir>/HEAD`` and, for each linked worktree,
``<common dir>/worktrees/<id>/{gitdir,HEAD,locked}``. The driver reads them
(:mod:`reconciler.drivers.git_meta`); this module decides, as git 2.39's
``worktree.c`` does:

- a linked worktree whose ``gitdir`` file is missing or empty is not listed;
  its path is that file's content without ``/.git``;
- ``locked`` holds the lock's reason (trimmed; empty: locked without one);
- prunable: not locked, and the ``.git`` file ``gitdir`` names is gone;
- HEAD ``ref: refs/heads/x`` is branch ``x``, anything else is detached.

A branch's commit comes from ``tips`` (the driver reads ``refs/heads/<x>``, else
``packed-refs``): publishing a worker compares it with what it pushed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Protocol

from reconciler.core.observed import WorktreeEntry

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class LinkedFiles(Protocol):
    """What ``<common dir>/worktrees/<id>/`` holds, as read (None: the file is absent)."""

    @property
    def folder(self) -> str: ...  # the metadata folder, <common dir>/worktrees/<id>
    @property
    def gitdir(self) -> str | None: ...
    @property
    def head(self) -> str | None: ...
    @property
    def locked(self) -> str | None: ...
    @property
    def target_exists(self) -> bool: ...  # whether the path named in gitdir exists


class RepoFiles(Protocol):
    """The files of one repository's common dir that name its worktrees."""

    @property
    def common_dir(self) -> str: ...  # real path: <main worktree>/.git, or the bare repository
    @property
    def head(self) -> str | None: ...
    @property
    def config(self) -> str: ...  # the text of <common dir>/config (core.bare)
    @property
    def linked(self) -> Sequence[LinkedFiles]: ...
    @property
    def bare_layout(self) -> bool: ...  # the repository is a git dir with no .git beside it
    @property
    def tips(self) -> Mapping[str, str]: ...  # branch -> commit, for the branches checked out


def core_bare(config: str) -> bool | None:
    """The value of ``core.bare`` in a git config text, or None when unset.

    Examples
    --------
    >>> core_bare("[core]\\n\\tbare = true\\n")
    True
    >>> core_bare('[core]\\n\\tbare = false\\n[remote "o"]\\n\\tbare = true\\n')
    False
    >>> core_bare("[user]\\n\\tname = x\\n") is None
    True
    """
    section = ""
    found: bool | None = None
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]").strip().lower()
            continue
        key, eq, value = line.partition("=")
        if section != "core" or key.strip().lower() != "bare":
            continue
        value = value.strip().lower() if eq else "true"  # a bare key means true
        if value in _TRUE:
            found = True
        elif value in _FALSE:
            found = False
    return found


def _head(text: str | None) -> tuple[str | None, str | None]:
    """(branch, detached commit) from the text of a HEAD file."""
    line = (text or "").strip()
    if line.startswith("ref:"):
        ref = line.removeprefix("ref:").strip()
        return ref.removeprefix("refs/heads/"), None
    return None, line or None


def _linked(files: LinkedFiles, tips: Mapping[str, str]) -> WorktreeEntry | None:
    gitdir = (files.gitdir or "").strip()
    if not gitdir:  # git lists no worktree without a readable gitdir
        return None
    if not posixpath.isabs(gitdir):  # written relative by newer git, to the metadata folder
        gitdir = posixpath.normpath(posixpath.join(files.folder, gitdir))
    path = gitdir.removesuffix("/.git")
    branch, commit = _head(files.head)
    locked = files.locked.strip() if files.locked is not None else None
    return WorktreeEntry(
        path=path,
        head=tips.get(branch) if branch else commit,
        branch=branch,
        detached=branch is None,
        prunable=locked is None and not files.target_exists,
        locked=locked,
        admin=files.folder,
    )


def worktrees_from_files(repo: RepoFiles) -> tuple[WorktreeEntry, ...]:
    """The entries ``git worktree list --porcelain`` prints: the main worktree, then by path.

    Examples
    --------
    >>> from types import SimpleNamespace as F
    >>> linked = F(folder="/r/.git/worktrees/a", gitdir="/w/a/.git\\n",
    ...            head="ref: refs/heads/f/a\\n", locked=None, target_exists=True)
    >>> repo = F(common_dir="/r/.git", head="ref: refs/heads/main", config="",
    ...          linked=(linked,), bare_layout=False, tips={"f/a": "c0ffee"})
    >>> main, a = worktrees_from_files(repo)
    >>> (main.path, main.branch, a.path, a.branch, a.head, a.prunable)
    ('/r', 'main', '/w/a', 'f/a', 'c0ffee', False)
    """
    bare = core_bare(repo.config)
    is_bare = repo.bare_layout if bare is None else bare
    if is_bare:
        main = WorktreeEntry(path=repo.common_dir.removesuffix("/.git"), head=None, branch=None,
                             bare=True)  # fmt: skip
    else:
        branch, commit = _head(repo.head)
        main = WorktreeEntry(path=repo.common_dir.removesuffix("/.git"),
                             head=repo.tips.get(branch) if branch else commit,
                             branch=branch, detached=branch is None)  # fmt: skip
    linked = (entry for files in repo.linked if (entry := _linked(files, repo.tips)) is not None)
    return (main, *sorted(linked, key=lambda e: e.path))
