"""One worker as the planner sees it in one pass, and how it asks for stops (pure).

Stops never wait inside a pass: the first asks for TERM and the worker's next
step (a restart, a teardown) waits for a later pass that sees the agent gone;
an agent still alive ``stopGrace`` after its TERM gets a KILL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from reconciler.core.actions import Action, Phase, Verb, WorkerStatus
from reconciler.core.model import Pipeline, Stage, Worker, WorkerState
from reconciler.core.observed import Pane, WorkerFiles

ACTIVE = (Phase.RUNNING, Phase.BACKOFF, Phase.PROVISIONING)


@dataclass(frozen=True)
class WorkerResult:
    """One worker's actions and status for this pass."""

    actions: tuple[Action, ...]
    status: WorkerStatus
    starts: bool = False  # starts an agent without holding a parallelism slot
    teardown: tuple[Action, ...] = ()  # replacing an old placement: done even when queued
    stopping: bool = False  # the next step waits for the agent to exit
    replacing: bool = False  # repo, branch or base changed: the old worktree goes


def started_state(
    state: WorkerState, w: Worker, action: Action, now: float, *, worktree: str, repo_path: str
) -> WorkerState:
    """``state`` once ``action`` (a start-agent) has started its attempt at ``now``.

    Errors, backoff and stop marks of the attempt before are cleared; where the
    worker lives is kept, or filled in (``worktree``, ``repo_path``) when unknown.
    """
    assert action.stage is not None
    new_stage = state.stage != action.stage
    return replace(
        state,
        phase=Phase.RUNNING.value,
        reason=action.reason,
        stage=action.stage,
        attempt=action.attempt,
        restarts=action.restarts if action.restarts is not None else state.restarts,
        # A counted restart raises the stage's count by one; the total keeps them all.
        restarts_total=state.restarts_total + max(0, (action.restarts or 0) - state.restarts),
        run_hashes=dict(w.run_hashes),
        attempt_started_at=now,
        stage_started_at=now if new_stage else (state.stage_started_at or now),
        backoff_until=None,
        finished_at=None,
        stop_sent_at=None,
        errors=0,
        error="",
        error_at=None,
        repo=state.repo or w.repo,
        branch=state.branch or w.branch,
        base=state.base or w.base,
        worktree=state.worktree or worktree,
        placement_hash=state.placement_hash or w.placement_hash,
        repo_path=state.repo_path or repo_path,
    )


def halt(
    name: str,
    window: Pane | None,
    state: WorkerState | None,
    now: float,
    grace: float,
    reason: str,
    then: Action | None = None,
) -> tuple[list[Action], bool]:
    """The stop actions for ``name``'s agent, and whether it is already down.

    Down: no window, or its process ended. Otherwise TERM once; KILL when the
    agent is still alive ``grace`` seconds after the TERM (of this attempt).
    ``then``: the start that follows the stop; the TERM carries its stage and
    attempt, so that apply checks the new start's templates before it stops
    anything (a bad edit does not kill a working agent).

    Examples
    --------
    >>> halt("w", None, None, 100.0, 10.0, "removed")
    ([], True)
    """
    if window is None or window.dead:  # dead: tmux saw it exit (status reaped or not)
        return [], True
    sent = state.stop_sent_at if state else None
    started = state.attempt_started_at if state else None
    if sent is not None and started is not None and sent < started:
        sent = None  # a TERM for an earlier attempt says nothing about this one
    if sent is None:
        if then is None:
            return [Action(Verb.STOP_AGENT, name, reason)], False
        return [Action(Verb.STOP_AGENT, name, reason, stage=then.stage, attempt=then.attempt,
                       restart=then.restart)], False  # fmt: skip
    if now - sent >= grace:
        return [Action(Verb.STOP_AGENT, name, f"{reason}: still alive {int(now - sent)}s "
                       "after TERM", force=True)], False  # fmt: skip
    return [], False


@dataclass(frozen=True)
class WorkerView:
    """Everything known about one worker in this pass."""

    w: Worker
    pipeline: Pipeline
    s: WorkerState | None
    window: Pane | None
    files: WorkerFiles
    stage: Stage | None
    index: int
    now: float
    grace: float = 10.0

    def status(self, phase: Phase, reason: str, attempt: int | None = None) -> WorkerStatus:
        """This worker's status line for the pass."""
        s = self.s
        return WorkerStatus(
            self.w.name,
            phase,
            self.stage.name if self.stage else None,
            self.index,
            len(self.pipeline.stages),
            attempt if attempt is not None else self.attempt,
            s.restarts if s else 0,
            reason,
            self.files.last_activity,
        )

    @property
    def attempt(self) -> int:
        """The attempt now running (or last run) at the current stage."""
        if self.window and self.stage and self.window.stage == self.stage.name:
            return self.window.attempt or 0
        if self.s and self.stage and self.s.stage == self.stage.name:
            return self.s.attempt
        return 0

    @property
    def alive(self) -> bool:
        """Whether the agent's process runs."""
        return self.window is not None and not self.window.dead

    def halt(self, reason: str, then: Action | None = None) -> tuple[list[Action], bool]:
        """Stop actions for this worker's agent, and whether it is down already."""
        return halt(self.w.name, self.window, self.s, self.now, self.grace, reason, then)

    def stop(self, reason: str) -> list[Action]:
        """Stop actions only, for paths that need not wait for the exit."""
        return self.halt(reason)[0]

    def waiting(self, acts: list[Action], phase: Phase, reason: str) -> WorkerResult:
        """The agent must exit before the next step: ask for it and say so."""
        return WorkerResult(tuple(acts), self.status(phase, f"{reason}; stopping"), stopping=True)

    def set_phase(self, phase: Phase, reason: str) -> list[Action]:
        """A set-phase action, unless the state already says so."""
        if self.s and self.s.phase == phase.value and self.s.reason == reason:
            return []
        stage = self.stage.name if self.stage else None
        return [Action(Verb.SET_PHASE, self.w.name, reason, stage=stage, phase=phase)]

    def start(
        self,
        reason: str,
        *,
        attempt: int | None = None,
        restart: bool = False,
        restarts: int | None = None,
    ) -> Action:
        """Start the current stage (the next attempt unless ``attempt`` is given)."""
        assert self.stage is not None
        return Action(
            Verb.START_AGENT,
            self.w.name,
            reason,
            stage=self.stage.name,
            attempt=attempt if attempt is not None else self.attempt + 1,
            restart=restart,
            restarts=restarts,
        )

    def was_active(self) -> bool:
        """Whether the worker held a parallelism slot before this pass."""
        return self.alive or (self.s is not None and self.s.phase in ACTIVE)


def done_count(pipeline: Pipeline, files: WorkerFiles) -> int:
    """How many stages in a row have a ``.done`` signal."""
    count = 0
    for stage in pipeline.stages:
        sig = files.signals.get(stage.name)
        if sig is None or sig.kind != "done":
            break
        count += 1
    return count
