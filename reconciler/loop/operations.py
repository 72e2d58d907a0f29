"""What a person asks for by hand: clean up workers, restart one now, suspend or resume one.

The operations run under the control repo's lock, which their caller holds:
the command itself when no reconciler runs, or the watcher that received the
command as a request (:mod:`reconciler.loop.requests`). They return what a
person should see: the events of what was done, and notes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.agent_command import SIGNALS_DIR
from reconciler.core.errors import DriverError, UsageError
from reconciler.core.model import Desired, Worker
from reconciler.core.observed import Observed
from reconciler.core.plan import teardown_actions
from reconciler.core.worker_plan import teardown_intent
from reconciler.drivers import gitops
from reconciler.drivers.tmux import Tmux
from reconciler.loop import engine
from reconciler.loop.apply import Applier
from reconciler.loop.events import Event, append_events
from reconciler.loop.state_store import StateStore, reconciler_lock
from reconciler.spec.edit import set_worker_suspend

DEFAULT_AUTHOR = "orch <orch@localhost>"
Item = Event | str  # what a person sees: an event, or a note


@dataclass(frozen=True)
class Outcome:
    """What a command did, as a person sees it.

    ``items`` are the events and notes themselves (for the watcher's own output);
    ``queued`` is the id of a request left for the watcher (``--no-wait``).
    """

    lines: tuple[str, ...] = ()
    failed: bool = False
    queued: str | None = None
    items: tuple[Item, ...] = ()

    @classmethod
    def of(cls, items: Sequence[Item]) -> Outcome:
        """Events print as `orch reconcile` prints them, notes as they are."""
        lines = tuple(i.line() if isinstance(i, Event) else i for i in items)
        failed = any(isinstance(i, Event) and not i.ok for i in items)
        return cls(lines, failed, None, tuple(items))


def cleanup_plan(
    root: Path, names: list[str], everything: bool, force: bool = False
) -> tuple[list[Action], list[str], list[str]]:
    """Teardown actions for ``names`` (or every known worker); reads only, no lock.

    Returns the actions, the chosen names, and those of them still in the specs.
    A worker a person has taken over is refused unless ``force``.
    """
    desired = engine.load(root, require_env=False)
    observed = engine.snapshot(desired)
    known = observed.known_workers()
    chosen = sorted(known) if everything else names
    unknown = [n for n in chosen if n not in known]
    if unknown:
        msg = f"not a worker orch runs: {', '.join(unknown)} (see orch status)"
        raise UsageError(msg)
    held = [n for n in chosen if (s := observed.states.get(n)) is not None and s.taken_over]
    if held and not force:
        msg = (f"taken over by a person: {', '.join(held)}; `orch release` them first, "
               "or pass --force (their work is still saved first)")  # fmt: skip
        raise UsageError(msg)
    actions = [a for n in chosen for a in teardown_intent(n, observed, "cleanup requested")]
    return actions, chosen, [n for n in chosen if n in desired.workers]


def cleanup(root: Path, names: Sequence[str]) -> list[Event]:
    """Tear ``names`` down against fresh observations (the caller holds the lock).

    A running agent is sent TERM (KILL after reconcile.stopGrace); its worktree
    is saved and removed once it has exited, so this command waits for that,
    at most stopGrace plus a few seconds.
    """
    desired = engine.load(root, require_env=False)
    grace = desired.config.stop_grace
    deadline = time.monotonic() + grace + engine.SETTLE_EXTRA
    chosen = sorted(set(names))
    events: list[Event] = []
    while time.monotonic() < deadline:
        observed = engine.snapshot(desired)
        now = time.time()
        actions = [
            a
            for n in chosen
            for a in teardown_actions(n, observed, "cleanup requested", now, grace)
        ]
        alive = [n for n in chosen if (w := observed.window_of(n)) is not None and not w.dead]
        if not actions and not alive:
            break
        if actions:
            events += _apply(desired, actions, observed)
            if any(not e.ok for e in events):
                break
        time.sleep(engine.SETTLE_POLL)
    return events


def _apply(
    desired: Desired, actions: list[Action], observed: Observed | None = None
) -> list[Event]:
    """Apply ``actions`` (against a fresh observation unless given) and record their events."""
    observed = observed or engine.snapshot(desired)
    cfg = desired.config
    applier = Applier(
        desired,
        observed,
        Tmux(cfg.tmux_socket, cfg.tmux_timeout),
        StateStore(desired.state_dir, cfg.fleet_name),
        clock=time.time,
        grace=cfg.stop_grace,
    )
    if any(a.verb is Verb.START_AGENT for a in actions) and not observed.session_exists:
        actions = [Action(Verb.ENSURE_SESSION, "", "tmux session missing"), *actions]
    events = applier.apply(actions)
    append_events(desired.state_dir, events)
    return events


def restart_worker(root: Path, name: str, stage: str | None) -> list[Event]:
    """:func:`restart`, taking the lock itself."""
    with reconciler_lock(root.resolve() / "state"):
        return restart(root, name, stage)


def restart(root: Path, name: str, stage: str | None) -> list[Event]:
    """Reset ``name``'s restart count and start its stage (or ``stage``) again now.

    The caller holds the lock. Signals of that stage and later ones are removed.
    """
    desired = engine.load(root)
    worker = _worker(desired, name)
    pipeline = desired.pipelines[worker.pipeline]
    state = engine.snapshot(desired).states.get(name)
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
    StateStore(desired.state_dir, desired.config.fleet_name).save(
        replace(
            state,
            restarts=0,
            restarts_total=state.restarts_total + 1,  # a restart by hand is one too
            phase=Phase.RUNNING.value,
            backoff_until=None,
            errors=0,
            error="",
            error_at=None,
        )
    )
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
    return _apply(desired, [action])


def approve_prune(root: Path, workers: Sequence[str], *, watcher: bool) -> list[Item]:
    """Let the mass-prune guard remove ``workers``, once (the caller holds the lock).

    The approval is written to state/; the watcher's next pass (it follows at
    once) or, with none running, the next `orch reconcile` honours it.
    """
    from reconciler.loop import prune_approval

    desired = engine.load(root, require_env=False)
    prune_approval.write(desired.state_dir, workers, time.time(), engine.host_name(desired))
    when = "the watcher applies it now" if watcher else "the next `orch reconcile` applies it"
    return [f"approved once: removing {', '.join(sorted(workers))}; {when}"]


def _worker(desired: Desired, name: str) -> Worker:
    worker = desired.workers.get(name)
    if worker is None:
        msg = f'no worker "{name}" in the specs'
        raise UsageError(msg)
    return worker


def set_suspend(
    root: Path,
    name: str,
    suspend: bool,
    *,
    commit: bool = True,
    author: str | None = None,
    apply: bool = True,
) -> list[Item]:
    """Set ``spec.suspend`` of Worker ``name`` in its file; commit it; apply it.

    The file keeps its comments and layout (:mod:`reconciler.spec.edit`); the
    edit is checked before it is written, and the specs must load after it (or
    the file is put back). With ``commit``, only that file is committed, as
    ``author``, through a temporary index: what the user staged stays staged.
    With ``apply`` (no watcher), that worker's part of a fresh plan is applied
    now (stop for suspend, start for resume) and nothing else; a watcher does
    it in its next pass instead. The caller holds the lock.
    """
    desired = engine.load(root)
    worker = _editable(desired, name)
    where = f"{worker.source.path}:{worker.source.line}"
    if worker.suspend == suspend:
        state = "suspended" if suspend else "not suspended"
        return [f'worker "{name}" is already {state} ({where}); nothing changed']
    rel = _spec_path(desired.root, worker.source.path)
    if commit:
        _check_committed(desired.root, rel)
    fresh = _edit(desired.root, rel, name, suspend)
    message = f"orch: {'suspend' if suspend else 'resume'} worker {name}"
    sha = _commit(desired.root, rel, message, author) if commit else None
    done = f'committed {sha[:10]} "{message}"' if sha else "not committed"
    past = "suspended" if suspend else "resumed"
    items: list[Item] = [f"{past} {name}: {where} now says suspend: {str(suspend).lower()}; {done}"]
    if not apply:
        return [*items, "the watcher applies it in its next pass"]
    return items + _apply_worker(fresh, name)


def _edit(root: Path, rel: str, name: str, suspend: bool) -> Desired:
    """Write the edit; the specs as they are then, or the file put back and the error."""
    path = root / rel
    old = path.read_bytes()
    try:
        text = old.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"{rel} is not UTF-8 text; cannot edit it"
        raise UsageError(msg) from None
    _write_bytes(path, set_worker_suspend(text, name, suspend, path=rel).encode("utf-8"))
    try:
        return engine.load(root)
    except BaseException:
        _write_bytes(path, old)
        raise


def _editable(desired: Desired, name: str) -> Worker:
    """The Worker ``name``, when its own document can be edited (not a WorkerSet's)."""
    worker = _worker(desired, name)
    if worker.worker_set:
        ws = desired.worker_sets[worker.worker_set]
        where = f"{ws.source.path}:{ws.source.line}"
        msg = (
            f'worker "{name}" is generated by WorkerSet "{ws.name}" ({where}); '
            "set suspend in the WorkerSet's template, or remove the item there"
        )
        raise UsageError(msg)
    return worker


def _spec_path(root: Path, rel: str) -> str:
    """The file to edit, relative to ``root``; a symlink is followed (inside ``root`` only)."""
    real = (root / rel).resolve()
    if not real.is_relative_to(root):
        msg = f"{rel} is a link to {real}, outside the control repo; edit it by hand"
        raise UsageError(msg)
    return str(real.relative_to(root))


def _check_committed(root: Path, rel: str) -> None:
    """Refuse to commit a file that holds changes of the user's own."""
    try:
        changed = gitops.dirty(root, (rel,))
    except DriverError as err:
        msg = f"cannot commit {rel}: {err}; pass --no-commit to only edit the file"
        raise UsageError(msg) from None
    if changed:
        msg = (
            f"{rel} has uncommitted changes; commit them first, "
            "or pass --no-commit to only edit the file"
        )
        raise UsageError(msg)


def _commit(root: Path, rel: str, message: str, author: str | None) -> str | None:
    """Commit ``rel`` alone; a failure leaves the edit in place and says so."""
    try:
        return gitops.commit_paths(root, [rel], message, author or DEFAULT_AUTHOR, reflog=message)
    except DriverError as err:
        msg = f"{rel} is edited, but committing it failed ({err}); see git status"
        raise UsageError(msg) from None


def _write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path``'s content atomically, keeping its mode (bytes: line endings kept)."""
    tmp = path.with_name(f".{path.name}.orch-{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.chmod(path.stat().st_mode & 0o7777)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _apply_worker(desired: Desired, name: str) -> list[Item]:
    """Apply only ``name``'s actions of a fresh plan; say where it stands when there are none."""
    observed = engine.snapshot(desired)
    the_plan = engine.make_plan(desired, observed)
    actions = [a for a in the_plan.actions if a.worker == name]
    if actions:
        return list(_apply(desired, actions, observed))
    status = the_plan.statuses.get(name)
    if status is None:
        return [f"{name} does not run on this host; nothing to do here"]
    return [f"{name} is {status.phase.value}: {status.reason}"]
