"""What the handlers of one pass's actions share: the pass as an interface.

The :class:`~reconciler.loop.apply.Applier` implements it; the modules with
handlers (``start_agent``, ``worktree_actions``) depend on this interface only,
so none of them imports ``apply`` and there is no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reconciler.core.actions import Action
from reconciler.core.model import Desired, Worker, WorkerState
from reconciler.core.observed import Observed
from reconciler.drivers.git import Git
from reconciler.drivers.tmux import Tmux, WindowSpec

Handler = Callable[["PassContext", Action], dict[str, object]]


@dataclass
class RepoPrep:
    """One repo's part of a pass, read and made once before its first new worktree.

    ``verdicts``: worker -> why its branch is refused (None: it may go ahead);
    ``lazy``: branches to create one by one (their batch failed).
    """

    verdicts: dict[str, str | None] = field(default_factory=dict)
    lazy: set[str] = field(default_factory=set)


class PassContext(Protocol):
    """What an action's handler needs from the pass that runs it (the Applier)."""

    @property
    def desired(self) -> Desired:
        """The specs of this pass."""

    @property
    def tmux(self) -> Tmux:
        """The fleet's tmux server."""

    def clock(self) -> float:
        """Now, in seconds since the epoch."""

    def worktree(self, name: str) -> Path:
        """Where the worker's worktree is."""

    def state(self, name: str) -> WorkerState:
        """The worker's runtime state as of now in this pass."""

    def save(self, state: WorkerState) -> None:
        """Remember and write one worker's state."""

    @property
    def observed(self) -> Observed:
        """The snapshot this pass planned from."""

    @property
    def branches(self) -> dict[str, RepoPrep]:
        """Per repo, prepared once a pass (:class:`RepoPrep`)."""

    @property
    def pass_actions(self) -> tuple[Action, ...]:
        """Every action of this pass, in order."""

    def worker(self, name: str) -> Worker:
        """The desired worker ``name``."""

    def repo_path(self, name: str, worktree: Path) -> Path:
        """The repository a worker's worktree belongs to, even after it left the specs."""

    def git(self, path: Path) -> Git:
        """The repository at ``path``, opened once per pass."""

    def free_index(self) -> int:
        """A free window index in the fleet session."""

    def defer(self, action: Action, spec: WindowSpec, record: Callable[[], None]) -> None:
        """Open ``spec``'s window at the end of the pass, then call ``record``."""
