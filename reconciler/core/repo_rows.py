"""The Repos of the specs as rows, and whether `orch repos pull` may fast-forward one (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.duration import utc_iso
from reconciler.core.errors import UsageError
from reconciler.core.git_status import GitStatus, LastCommit
from reconciler.core.model import Repo


@dataclass(frozen=True)
class RepoRow:
    """One Repo as `orch repos` shows it; ``error`` says why git could not be read."""

    name: str
    path: str
    url: str | None
    worktrees: int  # orch worktrees of this repo on disk (<worktrees.root>/<repo>/*)
    workers: int  # Workers of the specs that work in this repo
    status: GitStatus | None = None
    last_commit: LastCommit | None = None
    error: str | None = None

    def to_json(self, now: float) -> dict[str, Any]:
        """JSON-ready data; ``lastCommit.ageSeconds`` is counted from ``now``."""
        s, c = self.status, self.last_commit
        return {
            "name": self.name,
            "path": self.path,
            "url": self.url,
            "error": self.error,
            "branch": s.branch if s else None,
            "detached": bool(s and s.oid and s.branch is None),
            "head": s.oid if s else None,
            "clean": (not s.dirty) if s else None,
            "staged": s.staged if s else None,
            "unstaged": s.unstaged if s else None,
            "untracked": s.untracked if s else None,
            "conflicted": s.conflicted if s else None,
            "stash": s.stash if s else None,
            "upstream": s.upstream if s else None,
            "upstreamGone": s.upstream_gone if s else None,
            "ahead": s.ahead if s else None,
            "behind": s.behind if s else None,
            "lastCommit": None if c is None else {
                "sha": c.sha, "subject": c.subject, "time": utc_iso(c.time),
                "ageSeconds": max(0, round(now - c.time)),
            },
            "worktrees": self.worktrees,
            "workers": self.workers,
        }  # fmt: skip


@dataclass(frozen=True)
class PullVerdict:
    """What `orch repos pull` does with one repo, and why.

    ``action``: ``fetch`` (nothing stops it yet: fetch, then look again),
    ``fast-forward``, ``up-to-date``, ``refused`` (it would touch work or
    history: dirty, in conflict, diverged) or ``skipped`` (nothing to pull
    from: detached, no upstream, no commits).
    """

    action: str
    reason: str


def pull_verdict(status: GitStatus, *, fetched: bool) -> PullVerdict:
    """Whether a repo in ``status`` may be fast-forwarded to its upstream.

    Before the fetch (``fetched`` False) only what the fetch cannot change is
    judged, so a dirty repo is not even fetched.

    Examples
    --------
    >>> pull_verdict(GitStatus(oid="a", branch="main", upstream="o/main", untracked=1),
    ...              fetched=False).reason
    'dirty (1 untracked): commit or stash first'
    >>> pull_verdict(GitStatus(oid="a", branch="main", upstream="o/main", ahead=0, behind=3),
    ...              fetched=True)
    PullVerdict(action='fast-forward', reason='3 behind o/main')
    >>> pull_verdict(GitStatus(oid="a", branch="main", upstream="o/main", ahead=1, behind=3),
    ...              fetched=True).action
    'refused'
    """
    if status.oid is None:
        return PullVerdict("skipped", "no commits yet")
    if status.branch is None:
        return PullVerdict("skipped", "HEAD is detached")
    if status.upstream is None:
        return PullVerdict("skipped", f"branch {status.branch} has no upstream")
    if status.dirty:
        return PullVerdict("refused", f"dirty ({status.changes_text()}): commit or stash first")
    if not fetched:
        return PullVerdict("fetch", "")
    if status.upstream_gone:
        return PullVerdict("skipped", f"upstream {status.upstream} is gone")
    ahead, behind = status.ahead or 0, status.behind or 0
    if ahead and behind:
        where = f"{ahead} ahead, {behind} behind {status.upstream}"
        return PullVerdict("refused", f"diverged: {where}: merge or rebase")
    if behind:
        return PullVerdict("fast-forward", f"{behind} behind {status.upstream}")
    return PullVerdict("up-to-date", f"{ahead} ahead of {status.upstream}" if ahead else "")


@dataclass(frozen=True)
class PullResult:
    """What `orch repos pull` did to one repo: ``result`` is ``updated``, ``cloned``,
    ``up-to-date``, ``refused``, ``skipped`` or ``error``; ``before``/``after`` are commits."""

    name: str
    result: str
    reason: str = ""
    before: str | None = None
    after: str | None = None

    @property
    def ok(self) -> bool:
        """True unless git failed (a refusal is a verdict, not a failure)."""
        return self.result != "error"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"name": self.name, "result": self.result, "reason": self.reason,
                "before": self.before, "after": self.after}  # fmt: skip


def select_repos(repos: Mapping[str, Repo], names: Iterable[str]) -> list[Repo]:
    """The Repos named (all of them, in spec order, when none is); UsageError for an unknown one.

    Examples
    --------
    >>> select_repos({}, ["x"])
    Traceback (most recent call last):
    ...
    reconciler.core.errors.UsageError: unknown repo "x" (the specs have no Repo)
    """
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in repos]
    if unknown:
        have = ", ".join(sorted(repos))
        known = f"repos in the specs: {have}" if have else "the specs have no Repo"
        listed = ", ".join(f'"{n}"' for n in unknown)
        msg = f"unknown repo {listed} ({known})"
        raise UsageError(msg)
    return [repos[n] for n in wanted] if wanted else list(repos.values())
