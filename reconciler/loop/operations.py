"""What a person asks for by hand: clean up workers, restart one now."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.agent_command import SIGNALS_DIR
from reconciler.core.errors import UsageError
from reconciler.core.plan import teardown_actions
from reconciler.drivers.tmux import Tmux
from reconciler.loop import engine
from reconciler.loop.apply import Applier
from reconciler.loop.events import Event, append_events
from reconciler.loop.state_store import StateStore, reconciler_lock


def cleanup_plan(
    root: Path, names: list[str], everything: bool
) -> tuple[list[Action], list[str], list[str]]:
    """Teardown actions for ``names`` (or every known worker).

    Returns the actions, the chosen names, and those of them still in the specs.
    """
    desired = engine.load(root)
    observed = engine.snapshot(desired)
    known = observed.known_workers()
    chosen = sorted(known) if everything else names
    unknown = [n for n in chosen if n not in known]
    if unknown:
        msg = f"not a worker orch runs: {', '.join(unknown)} (see orch status)"
        raise UsageError(msg)
    actions = [a for n in chosen for a in teardown_actions(n, observed, "cleanup requested")]
    return actions, chosen, [n for n in chosen if n in desired.workers]


def run_cleanup(root: Path, actions: list[Action]) -> list[Event]:
    """Apply teardown actions under the lock, against a fresh observation."""
    desired = engine.load(root)
    with reconciler_lock(desired.state_dir):
        observed = engine.snapshot(desired)
        names = {a.worker for a in actions}
        fresh = [
            a for n in sorted(names) for a in teardown_actions(n, observed, "cleanup requested")
        ]
        applier = Applier(
            desired, observed, Tmux(desired.config.tmux_socket), StateStore(desired.state_dir)
        )
        events = applier.apply(fresh)
        append_events(desired.state_dir, events)
    return events


def restart_worker(root: Path, name: str, stage: str | None) -> list[Event]:
    """Reset ``name``'s restart count and start its stage (or ``stage``) again now."""
    desired = engine.load(root)
    worker = desired.workers.get(name)
    if worker is None:
        msg = f'no worker "{name}" in the specs'
        raise UsageError(msg)
    pipeline = desired.pipelines[worker.pipeline]
    with reconciler_lock(desired.state_dir):
        observed = engine.snapshot(desired)
        state = observed.states.get(name)
        if state is None or not state.worktree:
            msg = f'worker "{name}" has not started yet; run orch reconcile'
            raise UsageError(msg)
        target = stage or state.stage or pipeline.stages[0].name
        index = pipeline.index(target)
        if index < 0:
            names = ", ".join(s.name for s in pipeline.stages)
            msg = f'pipeline "{pipeline.name}" has no stage "{target}" ({names})'
            raise UsageError(msg)
        signals = Path(state.worktree) / SIGNALS_DIR
        for later in pipeline.stages[index:]:
            for suffix in (".done", ".failed"):
                (signals / f"{later.name}{suffix}").unlink(missing_ok=True)
        store = StateStore(desired.state_dir)
        store.save(replace(state, restarts=0, phase=Phase.RUNNING.value, backoff_until=None))
        observed = engine.snapshot(desired)
        attempt = (state.attempt if state.stage == target else 0) + 1
        action = Action(
            Verb.START_AGENT,
            name,
            "restart requested",
            stage=target,
            attempt=attempt,
            restart=True,
            restarts=0,
        )
        applier = Applier(
            desired, observed, Tmux(desired.config.tmux_socket), store, clock=time.time
        )
        actions = [action]
        if not observed.session_exists:
            actions.insert(0, Action(Verb.ENSURE_SESSION, "", "tmux session missing"))
        events = applier.apply(actions)
        append_events(desired.state_dir, events)
    return events
