"""Planning one worker: the guard order and the stage it is at (pure).

Guard order per worker: placement changed -> replace; suspended -> stop; a
failed action -> back off; dependencies -> wait; then provision, advance,
restart or leave alone. No I/O, no clock: ``now`` is part of the view.
:mod:`reconciler.core.plan` runs this for every worker and adds what concerns
the fleet as a whole; :mod:`reconciler.core.restarts` bounds every retry.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.limits import limit_pause, reset_from_text
from reconciler.core.model import Desired, Worker, WorkerState
from reconciler.core.observed import Observed, Pane, WorkerFiles
from reconciler.core.person import needs_person, taken_over_reason
from reconciler.core.publish_plan import succeeded
from reconciler.core.restarts import error_gate, error_spec, failure
from reconciler.core.worker_view import WorkerResult, WorkerView, done_count, halt


def teardown_actions(
    name: str,
    observed: Observed,
    reason: str,
    now: float | None = None,
    grace: float = 10.0,
) -> list[Action]:
    """Stop, save and remove everything orch owns for ``name`` (work is saved first).

    A running agent is only asked to stop (KILL once ``grace`` passed after its
    TERM, when ``now`` is given); the removal waits for a pass that sees it gone.
    """
    window = observed.window_of(name)
    state = observed.states.get(name)
    stops, down = halt(name, window, state, now if now is not None else 0.0, grace, reason)
    if now is None:
        stops = [a for a in stops if not a.force]
    if not down:
        return stops
    return [a for a in teardown_intent(name, observed, reason) if a.verb is not Verb.STOP_AGENT]


def teardown_intent(name: str, observed: Observed, reason: str) -> list[Action]:
    """Every step of ``name``'s teardown, for a person to confirm (stops and removals)."""
    window = observed.window_of(name)
    files = observed.files.get(name, WorkerFiles())
    out = []
    if window and not window.dead:
        out.append(Action(Verb.STOP_AGENT, name, reason))
    if files.worktree_exists or files.unfinished:
        out.append(Action(Verb.REMOVE_WORKTREE, name, f"{reason} (everything it held is saved)"))
    if window:
        out.append(Action(Verb.KILL_WINDOW, name, reason))
    if name in observed.states:
        out.append(Action(Verb.FORGET, name, reason))
    return out


def changed_parts(worker: Worker, state: WorkerState | None) -> list[str]:
    """Which of agent, pipeline and vars differ from what ``state`` last ran."""
    if state is None or not state.run_hashes:
        return []
    return sorted(k for k, v in worker.run_hashes.items() if state.run_hashes.get(k) != v)


def plan_worker(w: Worker, desired: Desired, observed: Observed, now: float) -> WorkerResult:
    """The actions and status of one desired worker."""
    pipeline = desired.pipelines[w.pipeline]
    grace = desired.config.stop_grace
    s = observed.states.get(w.name)
    window = observed.window_of(w.name)
    files = observed.files.get(w.name, WorkerFiles())
    if files.unreadable:  # nothing is known, so nothing is touched; the others go on
        view = WorkerView(w, pipeline, s, window, files, None, -1, now, grace)
        reason = f"cannot read its worktree: {files.unreadable}"
        return WorkerResult((), view.status(Phase.FAILED, reason))
    if s and s.taken_over:  # a person drives it: nothing is started, stopped or judged
        view = WorkerView(w, pipeline, s, window, files, None, -1, now, grace)
        return WorkerResult((), view.status(Phase.TAKEN_OVER, taken_over_reason(w.name)))
    teardown: tuple[Action, ...] = ()
    replaced = bool(s and s.placement_hash and s.placement_hash != w.placement_hash)
    if replaced and s and _base_only(w, s) and files.worktree_exists:
        result = _plan_after_base_change(w, desired, observed, now, s, files)
        if result is not None:
            return result
    if replaced and not w.suspend and (files.worktree_exists or window):
        reason = "spec changed: repo, branch or base; replacing"
        teardown = tuple(teardown_actions(w.name, observed, reason, now, grace))
        if any(a.verb is Verb.STOP_AGENT for a in teardown) or not teardown:
            view = WorkerView(w, pipeline, s, window, files, None, 0, now, grace)
            waiting = view.waiting(list(teardown), Phase.PROVISIONING, reason)
            return replace(waiting, teardown=teardown, replacing=True)
        s, window, files = None, None, WorkerFiles()
    done = done_count(pipeline, files)
    stage = pipeline.stages[done] if done < len(pipeline.stages) else None
    view = WorkerView(w, pipeline, s, window, files, stage, done, now, grace)
    result = _guards(view, desired, observed)
    # Whatever path starts an agent for a worker that held no slot takes a new one.
    starts = any(a.verb is Verb.START_AGENT for a in result.actions) and not view.was_active()
    actions = (*teardown, *result.actions)
    # An agent still alive in a phase that runs none is on its way out (TERM, then KILL).
    stopping = result.stopping or (view.alive and result.status.phase in _AGENTLESS)
    return replace(
        result,
        actions=actions,
        starts=starts,
        teardown=teardown,
        replacing=bool(teardown),
        stopping=stopping,
    )


_AGENTLESS = (Phase.SUSPENDED, Phase.FAILED, Phase.SUCCEEDED)


def _base_only(w: Worker, s: WorkerState) -> bool:
    """Whether repo and branch stay and only the base changed."""
    return (s.repo, s.branch) == (w.repo, w.branch) and bool(s.base) and s.base != w.base


def _plan_after_base_change(
    w: Worker, desired: Desired, observed: Observed, now: float, s: WorkerState, files: WorkerFiles
) -> WorkerResult | None:
    """A new base without tearing the worktree down.

    With no commits of its own the branch is moved to the new base; with some, the
    change is reported and nothing churns (a person rebases or renames the branch).
    """
    kept = replace(s, base=w.base, placement_hash=w.placement_hash)
    rest = plan_worker(w, desired, replace(observed, states={**observed.states, w.name: kept}), now)
    if files.own_commits == 0:
        move = Action(Verb.MOVE_BASE, w.name, f"base changed from {s.base} to {w.base}")
        return replace(rest, actions=(move, *rest.actions))
    count = "an unknown number of" if files.own_commits is None else str(files.own_commits)
    note = (
        f"base changed from {s.base} to {w.base}, but {w.branch} has {count} commit(s) of "
        "its own: not moved (rebase it, or give the worker a new branch to start over)"
    )
    return replace(rest, status=replace(rest.status, reason=f"{rest.status.reason}; {note}"))


def _dependency_gate(v: WorkerView, desired: Desired, observed: Observed) -> WorkerResult | None:
    failed: list[str] = []
    waiting: list[str] = []
    for dep in v.w.depends_on:
        dw = desired.workers.get(dep)
        if dw is None:
            continue
        dpipe = desired.pipelines[dw.pipeline]
        ds = observed.states.get(dep)
        if done_count(dpipe, observed.files.get(dep, WorkerFiles())) == len(dpipe.stages):
            continue
        if ds and ds.phase == Phase.SUCCEEDED.value:
            continue  # succeeded, and its worktree was removed since (cleaned up, merged)
        (failed if ds and ds.phase == Phase.FAILED.value else waiting).append(dep)
    if failed:
        return WorkerResult((), v.status(Phase.BLOCKED, f"dependency failed: {', '.join(failed)}"))
    if waiting:
        return WorkerResult(
            (), v.status(Phase.WAITING, f"waiting for {', '.join(waiting)} to succeed")
        )
    return None


def _guards(v: WorkerView, desired: Desired, observed: Observed) -> WorkerResult:
    w, s = v.w, v.s
    if w.suspend:
        acts = v.stop("suspended") + (
            v.set_phase(Phase.SUSPENDED, "suspended in spec") if s else []
        )
        return WorkerResult(tuple(acts), v.status(Phase.SUSPENDED, "suspended in spec"))
    held = error_gate(v)
    if held:
        return held
    if not v.files.worktree_exists:
        if v.window is None:  # never started: dependencies gate the start
            gate = _dependency_gate(v, desired, observed)
            if gate:
                return gate
            why = "its worktree was left half-made (git interrupted)" if v.files.unfinished else ""
            return _provision(v, desired, observed, why or "new worker")
        # The worktree vanished under a running window: stop, then provision again.
        stops, down = v.halt("worktree missing")
        if not down:
            return v.waiting(stops, Phase.PROVISIONING, "worktree missing")
        return _provision(v, desired, observed, "worktree missing")
    finishing = _finishing(v)
    if finishing:
        return finishing
    if v.stage is None:
        return succeeded(v, observed)  # and published, when the spec asks
    return _stage(v, desired, observed)


def _provision(v: WorkerView, desired: Desired, observed: Observed, reason: str) -> WorkerResult:
    s, w = v.s, v.w
    final = (Phase.FAILED.value, Phase.SUCCEEDED.value)
    moved = bool(s and s.placement_hash and s.placement_hash != w.placement_hash)
    refixed = bool(s and s.error_spec and s.error_spec != error_spec(w))  # refused, then edited
    if s and s.phase in final and not changed_parts(w, s) and not moved and not refixed:
        # Its worktree is gone (cleaned up, merged): the outcome stands until the spec changes.
        return WorkerResult((), v.status(Phase(s.phase), s.reason))
    repo = desired.repos[w.repo]
    acts = []
    if repo.url and repo.name in observed.missing_repos:
        acts.append(Action(Verb.CLONE_REPO, w.name, f"clone {repo.url}", repo=repo.name))
    acts.append(Action(Verb.CREATE_WORKTREE, w.name, f"{reason}: branch {w.branch} from {w.base}"))
    if v.stage is not None:
        acts.append(v.start(reason, restarts=0))
    return WorkerResult(tuple(acts), v.status(Phase.PROVISIONING, reason, attempt=v.attempt + 1))


def _stage(v: WorkerView, desired: Desired, observed: Observed) -> WorkerResult:
    """The worker has a worktree and a stage to run: advance, restart or leave it."""
    s, stage, window = v.s, v.stage, v.window
    assert stage is not None
    sig = v.files.signals.get(stage.name)
    if sig and sig.kind == "failed":
        reason = f"stage {stage.name} failed: {sig.summary or 'no summary'}"
        acts = v.stop(reason) + v.set_phase(Phase.FAILED, reason)
        return WorkerResult(tuple(acts), v.status(Phase.FAILED, reason))
    changed = changed_parts(v.w, s)
    # Failed at this stage, or before any stage (setup): stays so until the spec changes.
    if s and s.phase == Phase.FAILED.value and s.stage in (stage.name, None) and not changed:
        return WorkerResult(tuple(v.stop(s.reason)), v.status(Phase.FAILED, s.reason))
    if window is None or window.stage != stage.name:
        return _start_missing(v)
    if window.spec != v.w.run_hash:
        reason = f"spec changed: {', '.join(changed) or 'agent, pipeline or vars'}"
        return _restart_now(v, reason, Phase.RUNNING, restarts=0)
    if s and s.phase == Phase.SUSPENDED.value:
        return _restart_now(v, "resumed after suspend", Phase.RUNNING, restart=True)
    if s and s.phase == Phase.BACKOFF.value:
        return failure(v, s.reason)  # orch stopped it: its exit says nothing
    if s and s.phase == Phase.LIMITED.value:  # held by the account's pause (core.limits)
        return _restart_now(v, "usage limit lifted", Phase.RUNNING, restart=True)
    if s and s.phase == Phase.PAUSED.value:  # held while the budget stays spent (core.limits)
        return _restart_now(v, "budget raised", Phase.RUNNING, restart=True)
    if window.dead and not window.exit_unknown:
        return _exited(v, window, desired, observed)
    # Alive, or dead with its exit not yet reaped by tmux: judge by activity and time.
    return _check_alive(v, desired)


# A claude agent that wrote its stage's signal gets this long to end its turn on
# its own: its result line (the attempt's cost) comes last, and a TERM loses it.
FINISH_GRACE = 30.0


def _finishing(v: WorkerView) -> WorkerResult | None:
    """Wait for an agent whose stage is done to end its turn, before stopping it."""
    window, stream = v.window, v.files.stream
    if window is None or window.dead or stream is None or stream.ended or not window.stage:
        return None
    signal = v.files.signals.get(window.stage)
    if signal is None or signal.kind != "done" or v.now - signal.mtime > FINISH_GRACE:
        return None
    reason = f"stage {window.stage} done; letting the agent end its turn"
    return WorkerResult((), v.status(Phase.RUNNING, reason), stopping=True)


def _restart_now(
    v: WorkerView,
    reason: str,
    phase: Phase,
    *,
    attempt: int | None = None,
    restart: bool = False,
    restarts: int | None = None,
) -> WorkerResult:
    """Start the current stage again once the running agent (if any) has exited."""
    start = v.start(reason, attempt=attempt, restart=restart, restarts=restarts)
    stops, down = v.halt(reason, then=start)
    if not down:
        return v.waiting(stops, phase, reason)
    return WorkerResult((start,), v.status(phase, reason))


def _start_missing(v: WorkerView) -> WorkerResult:
    s, window, stage = v.s, v.window, v.stage
    assert stage is not None
    if window is not None and window.stage and window.stage != stage.name:
        reason = f"stage {window.stage} done"
        return _restart_now(v, reason, Phase.RUNNING, attempt=1, restarts=0)
    if s and s.phase == Phase.BACKOFF.value:
        return failure(v, s.reason)
    resumed = bool(s and s.stage == stage.name and s.attempt)
    reason = "window missing" if resumed else "stage ready"
    return WorkerResult((v.start(reason, restart=resumed),), v.status(Phase.RUNNING, reason))


def _limited(v: WorkerView, desired: Desired, observed: Observed, why: str,
             resets_at: float | None) -> WorkerResult:  # fmt: skip
    """A usage-limit rejection: Limited (no restart counted), and the account paused."""
    cfg = desired.config
    if resets_at is None:  # the CLI's message may name the reset ("resets 4:11pm (UTC)")
        resets_at = reset_from_text(why, v.now)
    until = limit_pause(observed, v.w.agent, v.now, cfg.limits_pause, cfg.limits_max_pause,
                        resets_at)  # fmt: skip
    reason = f"usage limit: {why}"
    pause = Action(Verb.LIMIT_ACCOUNT, v.w.name, reason, repo=v.w.agent, backoff_until=until)
    acts = [*v.stop(reason), pause, *v.set_phase(Phase.LIMITED, reason)]
    return WorkerResult(tuple(acts), v.status(Phase.LIMITED, reason))


def _api_error(v: WorkerView, desired: Desired, observed: Observed) -> WorkerResult | None:
    """What the agent's own output says of its end: an API error, a usage limit."""
    stream, hook = v.files.stream, v.files.hooks
    if hook and hook.failure == "rate_limit":
        return _limited(v, desired, observed, hook.failure_text or "rate_limit",
                        stream.resets_at if stream else None)  # fmt: skip
    if stream and stream.budget_hit:  # --max-budget-usd: not a crash, the budget is spent
        reason = f"budget spent: {stream.error or 'the CLI stopped at --max-budget-usd'}"
        return WorkerResult(
            tuple(v.set_phase(Phase.PAUSED, reason)), v.status(Phase.PAUSED, reason)
        )
    if stream and stream.ended and stream.is_error:
        if stream.rate_limited:
            return _limited(v, desired, observed, stream.error, stream.resets_at)
        return failure(v, f"API error: {stream.error}")
    if hook and hook.failure:
        return failure(v, f"API error ({hook.failure}): {hook.failure_text}".rstrip(": "))
    return None


def _exited(v: WorkerView, window: Pane, desired: Desired, observed: Observed) -> WorkerResult:
    stage = v.stage
    assert stage is not None
    if v.files.setup_failed:
        return failure(v, f"setup failed: {v.files.setup_failed}")
    ended = _api_error(v, desired, observed)
    if ended is not None:
        return ended
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
        return failure(v, "exited without signal")
    if window.dead_signal:
        return failure(v, f"crashed: killed by signal {window.dead_signal}")
    hint = _EXIT_HINTS.get(window.dead_status or 0, "")
    return failure(v, f"crashed: exit {window.dead_status}{hint}")


# What a shell's exit status says about the command itself (its log says more).
_EXIT_HINTS = {126: " (the command is not executable)", 127: " (command not found: check PATH)"}


def _check_alive(v: WorkerView, desired: Desired) -> WorkerResult:
    s, stage = v.s, v.stage
    assert stage is not None
    person = needs_person(v, desired.agents[v.w.agent].interactive)
    if person:  # a person must answer (no stall, no timeout, no restart), or just did
        return person
    started = s.attempt_started_at if s and s.stage == stage.name else None
    if started is not None and v.now - started > stage.timeout:
        ran = f"attempt ran {int(v.now - started)}s (timeout {int(stage.timeout)}s)"
        return failure(v, f"over time: {ran}")
    times = [t for t in (v.files.last_activity, started) if t is not None]
    last = max(times) if times else None
    hook = v.files.hooks
    if hook and hook.open_tool and hook.open_since is not None:
        if v.now - hook.open_since > stage.tool_timeout:  # the tool call itself hangs
            return failure(v, f"stalled: tool call {hook.open_tool} open for "
                           f"{int(v.now - hook.open_since)}s (toolTimeout "
                           f"{int(stage.tool_timeout)}s)")  # fmt: skip
        last = v.now  # a tool call at work (a build, the tests) is activity, not a stall
    if last is not None and v.now - last > stage.stall_timeout:
        return failure(
            v,
            f"stalled: no activity for {int(v.now - last)}s "
            f"(stallTimeout {int(stage.stall_timeout)}s)",
        )
    if desired.repos[v.w.repo].setup and not v.files.setup_done:
        return WorkerResult((), v.status(Phase.PROVISIONING, "running setup"))
    return WorkerResult((), v.status(Phase.RUNNING, "running"))
