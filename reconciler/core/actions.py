"""What the planner decides: actions, phases and per-worker statuses (plain data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verb(StrEnum):
    """The things `orch reconcile` can do, one driver call (or a few) each."""

    ENSURE_SESSION = "ensure-session"
    CLONE_REPO = "clone-repo"
    CREATE_WORKTREE = "create-worktree"
    MOVE_BASE = "move-base"
    START_AGENT = "start-agent"
    STOP_AGENT = "stop-agent"
    COMPLETE_STAGE = "complete-stage"
    SET_PHASE = "set-phase"
    REMOVE_WORKTREE = "remove-worktree"
    KILL_WINDOW = "kill-window"
    FORGET = "forget"
    LIMIT_ACCOUNT = "limit-account"  # an account hit a usage limit: pause its starts
    PROBE_ACCOUNT = "probe-account"  # the pause is over: this worker starts first
    CLEAR_ACCOUNT = "clear-account"  # the probe got through: the others may start
    PUBLISH = "publish"  # a Succeeded worker: push its branch, open a pull request


class Phase(StrEnum):
    """Where a worker is in its life (DESIGN.md, "A worker's life").

    The order is the reports' order: what needs a person first.
    """

    NEEDS_INPUT = "NeedsInput"  # waits for a person (a permission, a question, a screen)
    TAKEN_OVER = "TakenOver"  # a person drives it (`orch takeover`): not supervised
    PENDING = "Pending"
    WAITING = "Waiting"
    BLOCKED = "Blocked"
    QUEUED = "Queued"
    PROVISIONING = "Provisioning"
    RUNNING = "Running"
    BACKOFF = "Backoff"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"
    TERMINATING = "Terminating"
    LIMITED = "Limited"  # its account hit a usage limit: waits for the reset, no crash counted
    PAUSED = "Paused"  # a budget is spent: nothing new starts


@dataclass(frozen=True)
class Action:
    """One step of a plan: a verb, its target and a sentence saying why."""

    verb: Verb
    worker: str
    reason: str
    stage: str | None = None
    attempt: int = 0
    phase: Phase | None = None
    restart: bool = False  # start with the restart prompt (progress summary)
    repo: str | None = None
    backoff_until: float | None = None
    restarts: int | None = None
    force: bool = False  # stop-agent: KILL (the grace after TERM is over)

    def describe(self) -> str:
        """One line for people: ``start-agent w1 (build #2): stage done``."""
        target = self.worker or self.repo or "fleet"
        detail = []
        if self.stage:
            detail.append(f"{self.stage} #{self.attempt}" if self.attempt else self.stage)
            if self.verb is Verb.STOP_AGENT:  # the start that follows this stop
                detail[-1] = f"before {detail[-1]}"
        if self.phase:
            detail.append(f"-> {self.phase.value}")
        extra = f" ({', '.join(detail)})" if detail else ""
        return f"{self.verb.value} {target}{extra}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data, without empty fields."""
        data: dict[str, Any] = {
            "verb": self.verb.value,
            "worker": self.worker,
            "reason": self.reason,
        }
        for key in ("stage", "attempt", "repo", "backoff_until", "restarts"):
            value = getattr(self, key)
            if value:
                data[key] = value
        if self.phase:
            data["phase"] = self.phase.value
        if self.restart:
            data["restart"] = True
        if self.force:
            data["force"] = True
        return data


@dataclass(frozen=True)
class WorkerStatus:
    """The planner's view of one worker: phase, stage and why."""

    name: str
    phase: Phase
    stage: str | None
    stage_index: int
    stages: int
    attempt: int
    restarts: int
    reason: str
    last_activity: float | None = None


@dataclass(frozen=True)
class Plan:
    """Ordered actions, removals held back by the mass-prune guard, and statuses."""

    actions: tuple[Action, ...]
    blocked: tuple[Action, ...] = ()
    statuses: Mapping[str, WorkerStatus] = field(default_factory=dict)
    prune_count: int = 0
    prune_total: int = 0
    stopping: tuple[str, ...] = ()  # workers whose next step waits for an agent to exit
    wake_at: float | None = None  # a held start may go then (startInterval, an account pause)
    pruning: tuple[str, ...] = ()  # workers removed or replaced now (the guard counts them)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data for `orch plan --json`."""
        return {
            "actions": [a.to_json() for a in self.actions],
            "blocked": [a.to_json() for a in self.blocked],
            "prune": {"count": self.prune_count, "total": self.prune_total},
        }
