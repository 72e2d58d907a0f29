"""Planning one worker: the guard order, stage advance, restarts and backoff (pure).

Guard order per worker: placement changed -> replace; suspended -> stop;
dependencies -> wait; then provision, advance, restart or leave alone. No
I/O, no clock: ``now`` is part of the view. :mod:`reconciler.core.plan` runs
this for every worker and adds what concerns the fleet as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from reconciler.core.actions import Action, Phase, Verb, WorkerStatus
from reconciler.core.model import Desired, Pipeline, Stage, Worker, WorkerState
from reconciler.core.observed import Observed, Pane, WorkerFiles

HEALTHY_RESET = 600.0  # an attempt with progress for this long resets the restart count
ACTIVE = (Phase.RUNNING, Phase.BACKOFF, Phase.PROVISIONING)


@dataclass(frozen=True)
class WorkerResult:
    """One worker's actions and status for this pass."""

    actions: tuple[Action, ...]
    status: WorkerStatus
    starts: bool = False  # starts an agent without holding a parallelism slot
    teardown: tuple[Action, ...] = ()  # replacing an old placement: done even when queued


def backoff_delay(restarts: int, initial: float, maximum: float) -> float:
    """Seconds to wait before restart number ``restarts + 1``: doubling, capped.

    Examples
    --------
    >>> [backoff_delay(n, 10, 60) for n in range(5)]
    [10.0, 20.0, 40.0, 60.0, 60.0]
    """
    return float(min(initial * 2**restarts, maximum))


def teardown_actions(name: str, observed: Observed, reason: str) -> list[Action]:
    """Stop, save and remove everything orch owns for ``name`` (work is saved first)."""
    window = observed.window_of(name)
    files = observed.files.get(name, WorkerFiles())
    out = []
    if window and not window.dead:
        out.append(Action(Verb.STOP_AGENT, name, reason))
    if files.worktree_exists:
        out.append(
            Action(Verb.REMOVE_WORKTREE, name, f"{reason} (uncommitted work is saved first)")
        )
    if window:
        out.append(Action(Verb.KILL_WINDOW, name, reason))
    if name in observed.states:
        out.append(Action(Verb.FORGET, name, reason))
    return out


def _changed_parts(worker: Worker, state: WorkerState | None) -> list[str]:
    if state is None or not state.run_hashes:
        return []
    return sorted(k for k, v in worker.run_hashes.items() if state.run_hashes.get(k) != v)


def plan_worker(w: Worker, desired: Desired, observed: Observed, now: float) -> WorkerResult:
    """The actions and status of one desired worker."""
    pipeline = desired.pipelines[w.pipeline]
    s = observed.states.get(w.name)
    window = observed.window_of(w.name)
    files = observed.files.get(w.name, WorkerFiles())
    teardown: tuple[Action, ...] = ()
    replaced = bool(s and s.placement_hash and s.placement_hash != w.placement_hash)
    if replaced and not w.suspend and (files.worktree_exists or window):
        reason = "spec changed: repo, branch or base; replacing"
        teardown = tuple(teardown_actions(w.name, observed, reason))
        s, window, files = None, None, WorkerFiles()
    done = _done_count(pipeline, files)
    stage = pipeline.stages[done] if done < len(pipeline.stages) else None
    view = _View(w, pipeline, s, window, files, stage, done, now)
    result = _guards(view, desired, observed)
    # Whatever path starts an agent for a worker that held no slot takes a new one.
    starts = any(a.verb is Verb.START_AGENT for a in result.actions) and not _was_active(view)
    actions = (*teardown, *result.actions)
    return replace(result, actions=actions, starts=starts, teardown=teardown)


def _done_count(pipeline: Pipeline, files: WorkerFiles) -> int:
    """How many stages in a row have a ``.done`` signal."""
    count = 0
    for stage in pipeline.stages:
        sig = files.signals.get(stage.name)
        if sig is None or sig.kind != "done":
            break
        count += 1
    return count


@dataclass(frozen=True)
class _View:
    """Everything known about one worker in this pass."""

    w: Worker
    pipeline: Pipeline
    s: WorkerState | None
    window: Pane | None
    files: WorkerFiles
    stage: Stage | None
    index: int
    now: float

    def status(self, phase: Phase, reason: str, attempt: int | None = None) -> WorkerStatus:
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
            self.files.activity,
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
        return self.window is not None and not self.window.dead

    def stop(self, reason: str) -> list[Action]:
        return [Action(Verb.STOP_AGENT, self.w.name, reason)] if self.alive else []

    def set_phase(self, phase: Phase, reason: str) -> list[Action]:
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


def _dependency_gate(v: _View, desired: Desired, observed: Observed) -> WorkerResult | None:
    failed: list[str] = []
    waiting: list[str] = []
    for dep in v.w.depends_on:
        dw = desired.workers.get(dep)
        if dw is None:
            continue
        dfiles = observed.files.get(dep, WorkerFiles())
        if _done_count(desired.pipelines[dw.pipeline], dfiles) == len(
            desired.pipelines[dw.pipeline].stages
        ):
            continue
        ds = observed.states.get(dep)
        (failed if ds and ds.phase == Phase.FAILED.value else waiting).append(dep)
    if failed:
        return WorkerResult((), v.status(Phase.BLOCKED, f"dependency failed: {', '.join(failed)}"))
    if waiting:
        return WorkerResult(
            (), v.status(Phase.WAITING, f"waiting for {', '.join(waiting)} to succeed")
        )
    return None


def _guards(v: _View, desired: Desired, observed: Observed) -> WorkerResult:
    w, s = v.w, v.s
    if w.suspend:
        acts = v.stop("suspended") + (
            v.set_phase(Phase.SUSPENDED, "suspended in spec") if s else []
        )
        return WorkerResult(tuple(acts), v.status(Phase.SUSPENDED, "suspended in spec"))
    if not v.files.worktree_exists:
        if v.window is None:  # never started: dependencies gate the start
            gate = _dependency_gate(v, desired, observed)
            if gate:
                return gate
            return _provision(v, desired, observed, "new worker")
        # The worktree vanished under a running window: stop, then provision again.
        result = _provision(v, desired, observed, "worktree missing")
        return replace(result, actions=(*v.stop("worktree missing"), *result.actions))
    unfinished = _setup_unfinished(v, desired)
    if unfinished:
        return unfinished
    if v.stage is None:
        acts = v.stop("pipeline finished") + v.set_phase(Phase.SUCCEEDED, "all stages done")
        return WorkerResult(tuple(acts), v.status(Phase.SUCCEEDED, "all stages done"))
    return _stage(v)


def _setup_unfinished(v: _View, desired: Desired) -> WorkerResult | None:
    """A worktree whose setup never finished (the reconciler died during it): run it again."""
    s, w = v.s, v.w
    if not desired.repos[w.repo].setup or v.files.setup_done:
        return None
    if s is None or s.phase != Phase.PROVISIONING.value:
        return None  # only a provisioning cut short; a failed setup stays Failed
    reason = "setup did not finish"
    acts = [*v.stop(reason), Action(Verb.RUN_SETUP, w.name, reason)]
    if v.stage is not None:
        acts.append(v.start(reason, restarts=0))
    return WorkerResult(tuple(acts), v.status(Phase.PROVISIONING, reason))


def _provision(v: _View, desired: Desired, observed: Observed, reason: str) -> WorkerResult:
    s, w = v.s, v.w
    final = (Phase.FAILED.value, Phase.SUCCEEDED.value)
    if s and s.phase in final and not _changed_parts(w, s):
        # Its worktree is gone (cleaned up, merged): the outcome stands until the spec changes.
        return WorkerResult((), v.status(Phase(s.phase), s.reason))
    repo = desired.repos[w.repo]
    acts = []
    if repo.url and repo.name in observed.missing_repos:
        acts.append(Action(Verb.CLONE_REPO, w.name, f"clone {repo.url}", repo=repo.name))
    acts.append(Action(Verb.CREATE_WORKTREE, w.name, f"{reason}: branch {w.branch} from {w.base}"))
    if repo.setup:
        acts.append(Action(Verb.RUN_SETUP, w.name, f"{len(repo.setup)} setup command(s)"))
    if v.stage is not None:
        acts.append(v.start(reason, restarts=0))
    return WorkerResult(tuple(acts), v.status(Phase.PROVISIONING, reason, attempt=v.attempt + 1))


def _stage(v: _View) -> WorkerResult:
    """The worker has a worktree and a stage to run: advance, restart or leave it."""
    s, stage, window = v.s, v.stage, v.window
    assert stage is not None
    sig = v.files.signals.get(stage.name)
    if sig and sig.kind == "failed":
        reason = f"stage {stage.name} failed: {sig.summary or 'no summary'}"
        acts = v.stop(reason) + v.set_phase(Phase.FAILED, reason)
        return WorkerResult(tuple(acts), v.status(Phase.FAILED, reason))
    changed = _changed_parts(v.w, s)
    # Failed at this stage, or before any stage (setup): stays so until the spec changes.
    if s and s.phase == Phase.FAILED.value and s.stage in (stage.name, None) and not changed:
        return WorkerResult(tuple(v.stop(s.reason)), v.status(Phase.FAILED, s.reason))
    if window is None or window.stage != stage.name:
        return _start_missing(v)
    if window.spec != v.w.run_hash:
        reason = f"spec changed: {', '.join(changed) or 'agent, pipeline or vars'}"
        return WorkerResult((v.start(reason, restarts=0),), v.status(Phase.RUNNING, reason))
    if s and s.phase == Phase.SUSPENDED.value:
        return WorkerResult(
            (v.start("resumed after suspend", restart=True),),
            v.status(Phase.RUNNING, "resumed after suspend"),
        )
    if window.dead and not window.exit_unknown:
        if s and s.phase == Phase.BACKOFF.value:
            return _failure(v, s.reason)  # orch stopped it: its exit says nothing
        return _exited(v, window)
    # Alive, or dead with its exit not yet reaped by tmux: judge by activity and time.
    return _check_alive(v)


def _was_active(v: _View) -> bool:
    """Whether the worker held a parallelism slot before this pass."""
    return v.alive or (v.s is not None and v.s.phase in ACTIVE)  # StrEnum: "Running" matches


def _start_missing(v: _View) -> WorkerResult:
    s, window, stage = v.s, v.window, v.stage
    assert stage is not None
    if window is not None and window.stage and window.stage != stage.name:
        reason = f"stage {window.stage} done"
        start = v.start(reason, attempt=1, restarts=0)
        return WorkerResult((start,), v.status(Phase.RUNNING, reason))
    if s and s.phase == Phase.BACKOFF.value:
        return _failure(v, s.reason)
    resumed = bool(s and s.stage == stage.name and s.attempt)
    reason = "window missing" if resumed else "stage ready"
    return WorkerResult((v.start(reason, restart=resumed),), v.status(Phase.RUNNING, reason))


def _exited(v: _View, window: Pane) -> WorkerResult:
    stage = v.stage
    assert stage is not None
    if window.dead_status == 0 and stage.done_when in ("exit0", "any"):
        acts = [Action(Verb.COMPLETE_STAGE, v.w.name, "agent exited 0", stage=stage.name)]
        nxt = v.index + 1
        if nxt < len(v.pipeline.stages):
            following = v.pipeline.stages[nxt]
            acts.append(
                Action(
                    Verb.START_AGENT,
                    v.w.name,
                    f"stage {stage.name} exited 0",
                    stage=following.name,
                    attempt=1,
                    restarts=0,
                )
            )
            return WorkerResult(tuple(acts), v.status(Phase.RUNNING, f"stage {stage.name} done"))
        acts.append(Action(Verb.SET_PHASE, v.w.name, "all stages done", phase=Phase.SUCCEEDED))
        return WorkerResult(tuple(acts), v.status(Phase.SUCCEEDED, "all stages done"))
    if window.dead_status == 0:
        return _failure(v, "exited without signal")
    if window.dead_signal:
        return _failure(v, f"crashed: killed by signal {window.dead_signal}")
    return _failure(v, f"crashed: exit {window.dead_status}")


def _check_alive(v: _View) -> WorkerResult:
    s, stage = v.s, v.stage
    assert stage is not None
    started = s.attempt_started_at if s and s.stage == stage.name else None
    if started is not None and v.now - started > stage.timeout:
        ran = f"attempt ran {int(v.now - started)}s (timeout {int(stage.timeout)}s)"
        return _failure(v, f"over time: {ran}", healthy_reset=False)
    times = [t for t in (v.files.activity, started) if t is not None]
    last = max(times) if times else None
    if last is not None and v.now - last > stage.stall_timeout:
        return _failure(
            v,
            f"stalled: no activity for {int(v.now - last)}s "
            f"(stallTimeout {int(stage.stall_timeout)}s)",
        )
    if s and s.phase == Phase.BACKOFF.value:
        return WorkerResult((), v.status(Phase.BACKOFF, s.reason))
    return WorkerResult((), v.status(Phase.RUNNING, "running"))


def _healthy_for(v: _View) -> float:
    """How long the attempt kept making progress: from its start to its last activity."""
    start = v.s.attempt_started_at if v.s else None
    last = v.files.activity
    return last - start if start is not None and last is not None else 0.0


def _failure(v: _View, reason: str, *, healthy_reset: bool = True) -> WorkerResult:
    """The attempt failed: back off and restart, or give up after maxRestarts.

    A failure after the attempt made progress for HEALTHY_RESET seconds starts
    the count again (like Kubernetes' CrashLoopBackOff); an attempt over its
    timeout never does, or a stage that never finishes would retry forever.
    """
    s, w = v.s, v.w
    policy = w.restart_policy
    restarts = s.restarts if s else 0
    if healthy_reset and s and s.phase != Phase.BACKOFF.value and _healthy_for(v) >= HEALTHY_RESET:
        restarts = 0  # it made progress for a while: a fresh problem, not a crash loop
    if s and s.phase == Phase.BACKOFF.value and s.backoff_until is not None:
        if v.now < s.backoff_until:
            wait = int(s.backoff_until - v.now + 0.999)
            return WorkerResult((), v.status(Phase.BACKOFF, f"{s.reason}; retrying in {wait}s"))
        restart = v.start(
            f"{s.reason}; restart {restarts + 1}/{policy.max_restarts}",
            restart=True,
            restarts=restarts + 1,
        )
        return WorkerResult((restart,), v.status(Phase.RUNNING, s.reason))
    if restarts >= policy.max_restarts:
        final = f"{reason} (gave up after {restarts} restart(s))" if restarts else reason
        acts = v.stop(final) + v.set_phase(Phase.FAILED, final)
        return WorkerResult(tuple(acts), v.status(Phase.FAILED, final))
    delay = backoff_delay(restarts, policy.backoff_initial, policy.backoff_max)
    acts = [
        *v.stop(reason),
        Action(
            Verb.SET_PHASE,
            w.name,
            f"{reason}; restart in {delay:g}s",
            stage=v.stage.name if v.stage else None,
            phase=Phase.BACKOFF,
            backoff_until=v.now + delay,
            restarts=restarts,
        ),
    ]
    return WorkerResult(tuple(acts), v.status(Phase.BACKOFF, f"{reason}; restart in {delay:g}s"))
