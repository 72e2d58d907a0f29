"""A person at a worker's window: `orch send`, `orch takeover`, `orch release`.

`send` types into an interactive agent (literal text, then Enter). `takeover`
marks the worker's state taken over, so the planner leaves it alone (no start,
stop, stall or teardown); a headless claude is stopped and its session resumed
interactively in the same window (same worktree, environment and config).
`release` hands it back: supervision resumes where it is, and the stage goes on
until its signal file. `takeover` and `release` run under the control repo's
lock (through the watcher's queue when one runs, :mod:`reconciler.loop.requests`).
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import replace
from pathlib import Path

from reconciler.core.actions import Phase
from reconciler.core.agent_command import argv_context, prompt_context, render, source_env
from reconciler.core.errors import UsageError
from reconciler.core.model import Agent, Desired, Worker, WorkerState
from reconciler.core.observed import Observed, Pane
from reconciler.core.person import taken_over_reason
from reconciler.core.profiles import interactive_claude
from reconciler.drivers import proc, tmux_keys
from reconciler.drivers.tmux import Tmux
from reconciler.loop import claude_config, engine
from reconciler.loop.claude_launch import agent_extras, resolve_env, settings_path, write_settings
from reconciler.loop.events import Event, append_events
from reconciler.loop.state_store import StateStore

RELEASED = "released by a person; supervision resumes"


def _tmux(desired: Desired) -> Tmux:
    return Tmux(desired.config.tmux_socket, desired.config.tmux_timeout)


def _worker(desired: Desired, name: str) -> tuple[Worker, Agent]:
    worker = desired.workers.get(name)
    if worker is None:
        msg = f'no worker "{name}" in the specs (see orch status)'
        raise UsageError(msg)
    return worker, desired.agents[worker.agent]


def _live_window(observed: Observed, name: str) -> Pane:
    window = observed.window_of(name)
    if window is None or window.dead:
        msg = f'worker "{name}" has no running agent (see orch status); nothing to type into'
        raise UsageError(msg)
    return window


def send(root: Path, name: str, text: str) -> list[str]:
    """Type ``text`` into ``name``'s interactive agent, then Enter.

    A headless agent reads no keyboard: refused, with what to do instead.
    Needs no lock: it changes nothing orch keeps.
    """
    desired = engine.load(root, require_env=False)
    worker, agent = _worker(desired, name)
    observed = engine.snapshot(desired)
    state = observed.states.get(name)
    if not agent.interactive and not (state and state.taken_over):
        msg = (f'worker "{name}" runs headless (agent {agent.name}): it reads no keyboard; '
               f"`orch takeover {name}` resumes its session interactively")  # fmt: skip
        raise UsageError(msg)
    window = _live_window(observed, name)
    tmux_keys.send_text(_tmux(desired), window.pane_id, text)
    return [f"sent to {worker.name}: {len(text)} character(s), then Enter"]


def attach_argv(root: Path, name: str) -> list[str]:
    """The tmux command that shows ``name``'s window (switch-client inside tmux)."""
    desired = engine.load(root, require_env=False)
    observed = engine.snapshot(desired)
    window = observed.window_of(name)
    if window is None:
        msg = f'worker "{name}" has no window (see orch status)'
        raise UsageError(msg)
    target = f"{window.session}:{window.window_index}"
    verb = ["switch-client", "-t"] if os.environ.get("TMUX") else ["attach", "-t"]
    return ["tmux", "-L", desired.config.tmux_socket, *verb, target]


def takeover(root: Path, name: str) -> list[Event | str]:
    """Suspend supervision of ``name``; a headless claude goes on interactively (lock held)."""
    desired = engine.load(root, require_env=False)
    worker, agent = _worker(desired, name)
    observed = engine.snapshot(desired)
    state = observed.states.get(name)
    if state is None or not state.worktree or not state.stage:
        msg = f'worker "{name}" has not started yet; nothing to take over'
        raise UsageError(msg)
    if state.taken_over:
        return [f"{name} is already taken over; `orch release {name}` hands it back"]
    store = StateStore(desired.state_dir, desired.config.fleet_name)
    reason = taken_over_reason(name)
    store.save(replace(state, taken_over=True, phase=Phase.TAKEN_OVER.value, reason=reason))
    items: list[Event | str] = [_event(name, state, "take-over", reason)]
    window = observed.window_of(name)
    if agent.profile == "claude" and not agent.interactive and window is not None:
        session = _session(observed, state)
        if session is None:
            items.append("no session id recorded yet: the headless run goes on as it is")
        else:
            _resume_here(desired, worker, agent, state, window, session)
            items.append(f"stopped the headless run; session {session} resumed interactively")
    elif not agent.interactive:
        items.append(f"agent {agent.name} cannot be resumed interactively: it goes on as it is")
    append_events(desired.state_dir, [i for i in items if isinstance(i, Event)])
    return items


def release(root: Path, name: str) -> list[Event | str]:
    """Hand ``name`` back to orch (lock held): its stage's clock starts again now."""
    desired = engine.load(root, require_env=False)
    observed = engine.snapshot(desired)
    state = observed.states.get(name)
    if state is None or not state.taken_over:
        msg = f'worker "{name}" is not taken over (see orch status)'
        raise UsageError(msg)
    store = StateStore(desired.state_dir, desired.config.fleet_name)
    store.save(replace(state, taken_over=False, phase=Phase.RUNNING.value, reason=RELEASED,
                       attempt_started_at=time.time(), stop_sent_at=None))  # fmt: skip
    event = _event(name, state, "release", RELEASED)
    append_events(desired.state_dir, [event])
    return [event]


def _event(name: str, state: WorkerState, verb: str, reason: str) -> Event:
    return Event(time.time(), name, verb, reason, stage=state.stage, attempt=state.attempt)


def _session(observed: Observed, state: WorkerState) -> str | None:
    files = observed.files.get(state.name)
    stream = files.stream if files else None
    hook = files.hooks if files else None
    return (stream and stream.session_id) or (hook and hook.session_id) or state.session_id


def _resume_here(desired: Desired, worker: Worker, agent: Agent, state: WorkerState,
                 window: Pane, session: str) -> None:  # fmt: skip
    """Stop the headless run, then resume its session in the TUI, in the same window."""
    worktree = Path(state.worktree)
    pipeline = desired.pipelines[worker.pipeline]
    stage = pipeline.stages[max(pipeline.index(state.stage or ""), 0)]
    ctx = argv_context(prompt_context(desired, worker, stage, state.attempt, worktree),
                       "", "", session)  # fmt: skip
    template = interactive_claude(agent.resume or agent.command)
    argv = [render(arg, ctx) for arg in template]
    log = Path(state.log or desired.state_dir / "logs" / worker.name / "attempt.log")
    env_file = log.with_suffix(".env")
    env = {**resolve_env(agent.env, os.environ), **agent_extras(agent),
           **claude_config.config_env(desired, agent)}  # fmt: skip
    write_settings(settings_path(desired.state_dir, worker.name), interactive=True)
    claude_config.prepare(desired, agent, {**os.environ, **env})
    if not window.dead:
        proc.stop_process_group(window.pane_pid, desired.config.stop_grace)
    line = (source_env(str(env_file)) if env_file.exists() else "") + "exec " + shlex.join(argv)
    options = {"@orch-fleet": desired.config.fleet_name, "@orch-worker": worker.name,
               "@orch-spec": worker.run_hash, "@orch-stage": stage.name,
               "@orch-attempt": str(state.attempt)}  # fmt: skip
    takeover_log = log.with_name(log.stem + ".takeover.log")
    _tmux(desired).respawn_window(window.window_id, str(worktree), line, {}, str(takeover_log),
                                  options)  # fmt: skip
