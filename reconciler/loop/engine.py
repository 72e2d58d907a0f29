"""One reconcile pass end to end: load, lock, observe, plan, apply, record.

The functions here are what the CLI, the watch loop, the dashboard and the
MCP server call; they return data and never print.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.actions import Plan, Verb
from reconciler.core.errors import MassPruneBlocked
from reconciler.core.model import Desired
from reconciler.core.observed import Observed
from reconciler.core.plan import plan
from reconciler.drivers.tmux import Tmux
from reconciler.loop import (
    control_repo,
    desired_cache,
    prune_approval,
    reconciler_info,
    secrets,
    spec_revision,
)
from reconciler.loop.events import Event, append_events
from reconciler.loop.observe import observe
from reconciler.loop.state_store import StateStore, reconciler_lock

SETTLE_POLL = 0.1  # seconds between passes while agents are stopping
SETTLE_EXTRA = 5.0  # beyond stopGrace: the KILL and its exit


@dataclass(frozen=True)
class PassResult:
    """What one pass saw, decided and did."""

    desired: Desired
    observed: Observed
    plan: Plan
    events: tuple[Event, ...]


def host_name(desired: Desired) -> str:
    """This reconciler's host: config host.name, else the machine's name."""
    return desired.config.host_name or socket.gethostname()


def load(
    root: Path,
    env: Mapping[str, str] | None = None,
    *,
    remember: bool = False,
    require_env: bool = True,
) -> Desired:
    """The validated desired state of ``root`` (raises SpecErrors).

    ``require_env``: as in :func:`~reconciler.spec.validate.load_desired`; only
    commands that start no agent pass False.

    Commands that only read take it from :mod:`~reconciler.loop.desired_cache`
    when nothing it was built from changed; a reconcile (``remember``) always
    loads the specs and remembers them for those commands.
    """
    env = os.environ if env is None else env
    source = control_repo.source_stamp(root)  # reconcile.source: committed reads HEAD
    if not remember:
        cached = desired_cache.read(root.resolve(), env, source)
        if cached is not None:
            secrets.remember(cached, env)
            return cached
    from reconciler.spec.validate import load_desired  # YAML and schemas: only on a miss

    files = control_repo.committed_specs(root)
    desired = load_desired(root, env, require_env=require_env or remember, files=files)
    secrets.remember(desired, env)
    if remember:
        desired_cache.write(desired, env, source)
        spec_revision.remember(desired.root, desired.state_dir)
    return desired


def snapshot(desired: Desired) -> Observed:
    """Observe the world for ``desired``, writing nothing."""
    tmux = Tmux(desired.config.tmux_socket, desired.config.tmux_timeout)
    return observe(desired, tmux, StateStore(desired.state_dir, desired.config.fleet_name))


def _observe_for_pass(
    desired: Desired, store: StateStore, now: float
) -> tuple[Observed, list[Event]]:
    """Observe for a pass: corrupt state files are moved aside, each with an event."""
    tmux = Tmux(desired.config.tmux_socket, desired.config.tmux_timeout)
    observed = observe(desired, tmux, store, readonly=False, now=now)
    events = [
        Event(
            now,
            worker,
            "state-corrupt",
            f"state file moved aside to {aside}: {why}",
            ok=False,
            error=why,
        )
        for worker, aside, why in store.quarantine(now)
    ]
    return observed, events


def make_plan(
    desired: Desired,
    observed: Observed,
    *,
    allow_mass_prune: bool = False,
    now: float | None = None,
) -> Plan:
    """The plan for this moment (honouring an `orch approve-prune` in state/)."""
    return plan(
        desired,
        observed,
        time.time() if now is None else now,
        host=host_name(desired),
        allow_mass_prune=allow_mass_prune,
        approved=prune_approval.read(desired.state_dir),
    )


def reconcile_pass(
    desired: Desired,
    *,
    allow_mass_prune: bool = False,
    grace: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> PassResult:
    """Observe, plan and apply once, holding the control repo's lock.

    Raises PassBlocked after applying everything else when removals were
    held back by the mass-prune guard.
    """
    with reconciler_lock(desired.state_dir):
        result = apply_pass(desired, allow_mass_prune=allow_mass_prune, grace=grace, clock=clock)
    if result.plan.blocked:
        raise PassBlocked(result)
    return result


def reconcile(
    desired: Desired,
    *,
    allow_mass_prune: bool = False,
    grace: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> PassResult:
    """One pass, then more while agents it asked to stop are on their way out.

    No pass waits for a process; this command does, between passes, at most
    reconcile.stopGrace plus a few seconds, so that what follows a stop (a
    restart, a teardown) is done when it returns. Events of every pass are kept.
    """
    with reconciler_lock(desired.state_dir):
        result = apply_pass(desired, allow_mass_prune=allow_mass_prune, grace=grace, clock=clock)
        events = list(result.events)
        cfg = desired.config
        budget = cfg.stop_grace + SETTLE_EXTRA + cfg.start_interval * len(desired.workers)
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            pause = _settle_wait(result.plan, cfg.start_interval, clock())
            if pause is None:
                break
            time.sleep(pause)
            result = apply_pass(
                desired, allow_mass_prune=allow_mass_prune, grace=grace, clock=clock
            )
            events += result.events
    result = PassResult(result.desired, result.observed, result.plan, tuple(events))
    if result.plan.blocked:
        raise PassBlocked(result)
    return result


def _settle_wait(the_plan: Plan, interval: float, now: float) -> float | None:
    """How long to wait before the next pass of a one-shot reconcile; None: it is done.

    It waits for agents on their way out, and for starts spaced by
    startInterval; never for an account's usage-limit pause (minutes, hours).
    """
    if the_plan.stopping:
        return SETTLE_POLL
    wake = the_plan.wake_at
    if wake is not None and wake - now <= interval + SETTLE_POLL:
        return max(SETTLE_POLL, wake - now)
    return None


def apply_pass(
    desired: Desired,
    *,
    allow_mass_prune: bool = False,
    grace: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> PassResult:
    """One pass for a caller that already holds the lock (the watch loop)."""
    from reconciler.loop.apply import Applier  # not needed by plan and status: start-up time
    from reconciler.loop.clones import migrate

    store = StateStore(desired.state_dir, desired.config.fleet_name)
    moved = migrate(desired, clock())  # before anything looks for the clones
    observed, notes = _observe_for_pass(desired, store, clock())
    notes = moved + notes
    the_plan = make_plan(desired, observed, allow_mass_prune=allow_mass_prune, now=clock())
    applier = Applier(
        desired,
        observed,
        Tmux(desired.config.tmux_socket, desired.config.tmux_timeout),
        store,
        clock=clock,
        grace=grace,
    )
    events = notes + applier.apply(the_plan.actions)
    append_events(desired.state_dir, events)
    gone = [e.worker for e in events if e.verb == Verb.FORGET.value and e.ok]
    prune_approval.settle(desired.state_dir, prune_approval.read(desired.state_dir), the_plan, gone)
    reconciler_info.record_pass(desired.state_dir, clock(), len(the_plan.actions), len(events))
    return PassResult(desired, observed, the_plan, tuple(events))


class PassBlocked(MassPruneBlocked):
    """A pass that applied what it could but held back a mass prune."""

    def __init__(self, result: PassResult) -> None:
        self.result = result
        cfg = result.desired.config
        super().__init__(result.plan.prune_count, result.plan.prune_total, cfg.max_prune_fraction)
