"""Whose branch is it: the rule that keeps an agent off branches that are not its own (pure).

A worker's branch is orch's own: created by this fleet when it made the
worktree (marked in the repo's config), never the base or the repo's default
branch, never a branch checked out in another worktree. A branch that existed
before orch created it is used only when the Worker says ``adoptBranch: true``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BranchFacts:
    """What git says about a worker's branch just before its worktree is made."""

    branch: str
    base: str
    default_branch: str
    exists: bool
    owner: str | None  # the fleet that created it (branch.<name>.orchFleet), if any
    checked_out_at: str | None  # a worktree that has it checked out, if any


def refusal(facts: BranchFacts, *, fleet: str, worktree: str, adopt: bool) -> str | None:
    """Why orch must not put a worker's worktree on this branch, or None when it may.

    Examples
    --------
    >>> f = BranchFacts("orch/w", "main", "main", False, None, None)
    >>> refusal(f, fleet="x", worktree="/wt", adopt=False) is None
    True
    >>> refusal(BranchFacts("feat", "main", "main", True, None, None),
    ...         fleet="x", worktree="/wt", adopt=False)[:41]
    'branch "feat" existed before orch created'
    """
    b = facts.branch
    if facts.checked_out_at and facts.checked_out_at != worktree:
        return f'branch "{b}" is checked out in {facts.checked_out_at}; a worker needs its own'
    if adopt:
        return None
    if b in (facts.base, facts.default_branch):
        return (
            f'branch "{b}" is the base or the repo\'s default branch: the agent would '
            "commit straight onto it (set adoptBranch: true if that is intended)"
        )
    if facts.exists and facts.owner != fleet:
        whose = f"fleet {facts.owner}" if facts.owner else "someone else"
        return (
            f'branch "{b}" existed before orch created it (it belongs to {whose}); '
            "rename the worker's branch, or set adoptBranch: true to work on it"
        )
    return None
