"""Carry out a plan through the drivers, one action at a time; no decisions here.

Each action is idempotent and ends in an :class:`Event`. When one step of a
worker fails, that worker's later steps in the same pass are skipped (they
would build on it); other workers go on. State is written after each step.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.agent_command import SIGNALS_DIR
from reconciler.core.errors import DriverError, OrchError, Refused, UsageError
from reconciler.core.model import Desired, Worker, WorkerState
from reconciler.core.observed import Observed, Pane, repo_of
from reconciler.core.restarts import record_error
from reconciler.drivers import proc
from reconciler.drivers.git import Git
from reconciler.drivers.tmux import Tmux, WindowSpec
from reconciler.loop.accounts import ACCOUNT_HANDLERS, fold_cost
from reconciler.loop.dashboard import window_command
from reconciler.loop.events import Event
from reconciler.loop.pass_context import RepoPrep
from reconciler.loop.publish_work import PUBLISH_HANDLERS
from reconciler.loop.start_agent import TemplateFailed, preflight, start_agent, worktree_of
from reconciler.loop.state_store import StateStore, write_atomic
from reconciler.loop.worktree_actions import WORKTREE_HANDLERS


@dataclass
class Applier:
    """Applies actions for one pass; keeps the state files current as it goes."""

    desired: Desired
    observed: Observed
    tmux: Tmux
    store: StateStore
    clock: Callable[[], float] = time.time
    grace: float = 10.0
    states: dict[str, WorkerState] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    killed: set[str] = field(default_factory=set)  # windows killed earlier in this pass
    branches: dict[str, RepoPrep] = field(default_factory=dict)  # per repo, once a pass
    pass_actions: tuple[Action, ...] = ()
    repos: dict[str, Git] = field(default_factory=dict)  # opened once per pass
    deferred: list[tuple[int, Action, WindowSpec, Callable[[], None]]] = field(default_factory=list)
    _index: int = 0
    _next_index: int | None = None

    def __post_init__(self) -> None:
        self.states = dict(self.observed.states)

    def apply(self, actions: tuple[Action, ...] | list[Action]) -> list[Event]:
        """Apply ``actions`` in order; one event each.

        New windows are opened together after the other actions (one ``tmux
        source-file`` call, however many); their events are final only then.
        """
        events: list[Event] = []
        self.pass_actions = tuple(actions)
        for action in actions:
            self._index = len(events)
            events.append(self.apply_one(action))
        self.flush(events)
        return events

    def defer(self, action: Action, spec: WindowSpec, record: Callable[[], None]) -> None:
        """Open ``spec``'s window at the end of the pass, then ``record`` the start."""
        self.deferred.append((self._index, action, spec, record))

    def flush(self, events: list[Event]) -> None:
        """Open the deferred windows; a failure marks the starts it prevented as failed."""
        pending, self.deferred = self.deferred, []
        if not pending:
            return
        error = None
        try:
            self.tmux.start_windows([spec for _, _, spec, _ in pending])
        except DriverError as err:
            error = str(err)
        opened = self._opened() if error else {a.worker for _, a, _, _ in pending}
        for index, action, _, record in pending:
            if action.worker in opened:
                record()
            else:
                self.record_failure(action, DriverError("tmux new-window", error or "not opened"))
                events[index] = self._event(action, ok=False, error=error)

    def _opened(self) -> set[str]:
        """Workers with a window in the fleet session now (after a failed batch)."""
        cfg = self.desired.config
        try:
            text = self.tmux.list_panes("#{session_name}\t#{@orch-fleet}\t#{@orch-worker}") or ""
        except DriverError:
            return set()
        rows = (line.split("\t", 2) for line in text.splitlines() if line.count("\t") >= 2)
        return {
            worker
            for session, fleet, worker in rows
            if session == cfg.tmux_session and fleet == cfg.fleet_name and worker
        }

    def apply_one(self, action: Action) -> Event:
        """Apply one action and report it."""
        if action.worker and action.worker in self.failed:
            return self._event(action, ok=False, error="skipped: an earlier step failed")
        handler = _HANDLERS[action.verb]
        try:
            detail = handler(self, action) or {}
        except (OrchError, OSError) as err:
            self.record_failure(action, err)
            return self._event(action, ok=False, error=str(err))
        return self._event(action, detail=detail)

    def record_failure(self, action: Action, err: Exception) -> None:
        """Make a failed action that worker's reason: counted, backed off, bounded."""
        if not action.worker or action.verb is Verb.PUBLISH:  # it keeps its own count
            return
        self.failed.add(action.worker)
        state = self.state(action.worker)
        worker = self.desired.workers.get(action.worker)
        if isinstance(err, TemplateFailed | Refused):  # permanent: retrying cannot help
            hint = "; fix the spec" if isinstance(err, Refused) else "; fix it, then `orch restart"
            hint += "" if isinstance(err, Refused) else f" {action.worker}`"
            state = record_error(state, worker, f"{action.verb.value}: {err}", self.clock())
            self.save(replace(
                state, phase=Phase.FAILED.value, reason=f"{err}{hint}",
                stage=action.stage or state.stage, finished_at=self.clock(),
                run_hashes=dict(worker.run_hashes) if worker else state.run_hashes,
            ))  # fmt: skip
            return
        message = f"{action.verb.value}: {err}"
        with contextlib.suppress(OSError):  # an unwritable state/ is reported by the pass
            self.save(record_error(state, worker, message, self.clock()))

    def _event(
        self,
        action: Action,
        ok: bool = True,
        error: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> Event:
        verb, attempt = action.verb.value, action.attempt
        if action.verb is Verb.SET_PHASE and action.phase:
            verb = f"phase {action.phase.value}"
            state = self.states.get(action.worker)
            if not attempt and state and state.stage == action.stage:
                attempt = state.attempt  # which attempt ended so (orch describe reads it)
        return Event(
            self.clock(),
            action.worker,
            verb,
            action.reason,
            ok,
            error,
            detail or {},
            stage=action.stage,
            attempt=attempt,
        )

    # -- helpers ------------------------------------------------------------

    def state(self, name: str) -> WorkerState:
        return self.states.get(name) or WorkerState(name)

    def save(self, state: WorkerState) -> None:
        self.states[state.name] = state
        self.store.save(state)

    def worker(self, name: str) -> Worker:
        return self.desired.workers[name]

    def worktree(self, name: str) -> Path:
        """Where the worker's worktree is: from state, the observation, or the spec."""
        return worktree_of(self.desired, self.observed, self.states.get(name), name)

    def repo_path(self, name: str, worktree: Path) -> Path:
        """The repository a worker's worktree belongs to, even after it left the specs."""
        state = self.states.get(name)
        if state and state.repo_path:
            return Path(state.repo_path)
        listed = repo_of(self.observed.worktrees, str(worktree))
        if listed:
            return Path(listed)
        worker = self.desired.workers.get(name)
        if worker is None or worker.repo not in self.desired.repos:
            msg = f"cannot tell which repository {worktree} belongs to; remove it by hand"
            raise UsageError(msg)
        return self.desired.repos[worker.repo].local_path

    def git(self, path: Path) -> Git:
        """The repository at ``path``, opened once per pass."""
        key = str(path)
        if key not in self.repos:
            self.repos[key] = Git(path, timeout=self.desired.config.git_timeout)
        return self.repos[key]

    def window(self, name: str) -> Pane | None:
        """The worker's window as observed, unless this pass killed it."""
        return None if name in self.killed else self.observed.window_of(name)

    def free_index(self) -> int:
        """A window index free in the fleet session (one list call per pass)."""
        if self._next_index is None:
            lines = self.tmux.run(
                "list-windows",
                "-t",
                f"={self.desired.config.tmux_session}",
                "-F",
                "#{window_index}",
            )
            self._next_index = max((int(x) for x in lines if x.isdigit()), default=0) + 1
        index = self._next_index
        self._next_index += 1
        return index

    def wait_dead(self, window_id: str, seconds: float = 5.0) -> None:
        """Wait until tmux has seen the pane's process exit (see Tmux.respawn_window)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            out = self.tmux.run("display-message", "-p", "-t", window_id, "#{pane_dead}")
            if out and out[0] == "1":
                return
            time.sleep(0.02)
        raise DriverError("tmux display-message", f"pane {window_id} did not exit")


def _ensure_session(ap: Applier, action: Action) -> dict[str, object]:
    cfg = ap.desired.config
    command = window_command(ap.desired) if cfg.tmux_dashboard else []
    created = ap.tmux.ensure_session(cfg.tmux_session, command)
    return {"created": created}


def _start_agent(ap: Applier, action: Action) -> dict[str, object]:
    window = ap.window(action.worker)

    def stop_old() -> None:
        if window and not window.dead:
            proc.stop_process_group(window.pane_pid, ap.grace)
            ap.wait_dead(window.window_id)

    return start_agent(ap, action, window, stop_old)


def _stop_agent(ap: Applier, action: Action) -> dict[str, object]:
    """Send TERM (KILL when forced) to the agent's process tree; never wait for it.

    The pane's pid is read again just before the signal: the pass's snapshot may
    be a moment old, and a pid is only worth signalling while its pane lives.
    """
    if action.stage and not action.force:  # a stop before a restart: check the start first
        preflight(ap, action)
    window = ap.window(action.worker)
    pid = ap.tmux.pane_pid(window.window_id) if window else None
    if pid is None:
        return {"stopped": "already gone"}
    sig = signal.SIGKILL if action.force else signal.SIGTERM
    pids = proc.signal_tree(pid, sig)
    if not action.force:
        ap.save(replace(ap.state(action.worker), stop_sent_at=ap.clock()))
    return {"signal": sig.name, "pids": len(pids)}


def _complete_stage(ap: Applier, action: Action) -> dict[str, object]:
    path = ap.worktree(action.worker) / SIGNALS_DIR / f"{action.stage}.done"
    write_atomic(path, json.dumps({"summary": action.reason}) + "\n")
    return {}


def _set_phase(ap: Applier, action: Action) -> dict[str, object]:
    assert action.phase is not None
    fold_cost(ap, action.worker)
    state = ap.state(action.worker)
    now = ap.clock()
    final = action.phase in (Phase.SUCCEEDED, Phase.FAILED)
    ap.save(
        replace(
            state,
            phase=action.phase.value,
            reason=action.reason,
            stage=action.stage or state.stage,
            backoff_until=action.backoff_until,
            restarts=action.restarts if action.restarts is not None else state.restarts,
            finished_at=now if final else state.finished_at,
        )
    )
    return {}


def _kill_window(ap: Applier, action: Action) -> dict[str, object]:
    window = ap.window(action.worker)
    if window:
        ap.tmux.kill_window(window.window_id)
        ap.killed.add(action.worker)
    return {}


def _forget(ap: Applier, action: Action) -> dict[str, object]:
    ap.store.forget(action.worker)
    ap.states.pop(action.worker, None)
    return {}


_HANDLERS: dict[Verb, Callable[[Applier, Action], dict[str, object]]] = {
    Verb.ENSURE_SESSION: _ensure_session,
    **WORKTREE_HANDLERS,
    **ACCOUNT_HANDLERS,
    **PUBLISH_HANDLERS,
    Verb.START_AGENT: _start_agent,
    Verb.STOP_AGENT: _stop_agent,
    Verb.COMPLETE_STAGE: _complete_stage,
    Verb.SET_PHASE: _set_phase,
    Verb.KILL_WINDOW: _kill_window,
    Verb.FORGET: _forget,
}
