"""Carry out a plan through the drivers, one action at a time; no decisions here.

Each action is idempotent and ends in an :class:`Event`. When one step of a
worker fails, that worker's later steps in the same pass are skipped (they
would build on it); other workers go on. State is written after each step.
"""

from __future__ import annotations

import json
import socket as socketlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.agent_command import OWNER_FILE, SETUP_DONE_FILE, SIGNALS_DIR
from reconciler.core.errors import DriverError, OrchError, UsageError
from reconciler.core.model import Desired, Worker, WorkerState
from reconciler.core.observed import Observed, Pane, repo_of
from reconciler.drivers import proc, shell
from reconciler.drivers.git import Git
from reconciler.drivers.tmux import Tmux, WindowSpec
from reconciler.loop.events import Event
from reconciler.loop.start_agent import TemplateFailed, start_agent
from reconciler.loop.state_store import StateStore, write_atomic


class SetupFailed(OrchError):
    """A Repo setup command failed in a new worktree."""


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
    excluded: set[str] = field(default_factory=set)  # repos whose info/exclude is done
    repos: dict[str, Git] = field(default_factory=dict)  # opened once per pass
    deferred: list[tuple[int, Action, WindowSpec, Callable[[], None]]] = field(default_factory=list)
    _index: int = 0
    _next_index: int | None = None

    def __post_init__(self) -> None:
        self.states = dict(self.observed.states)

    def apply(self, actions: tuple[Action, ...] | list[Action]) -> list[Event]:
        """Apply ``actions`` in order; one event each.

        New windows are opened together after the other actions (a chained tmux
        call for many windows costs about one call); their events are final only
        then.
        """
        events: list[Event] = []
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
                self.failed.add(action.worker)
                events[index] = self._event(action, ok=False, error=error)

    def _opened(self) -> set[str]:
        """Workers with a window in the fleet session now (after a failed batch)."""
        session = self.desired.config.tmux_session
        try:
            text = self.tmux.list_panes("#{session_name}\t#{@orch-worker}") or ""
        except DriverError:
            return set()
        pairs = (line.split("\t", 1) for line in text.splitlines() if "\t" in line)
        return {worker for name, worker in pairs if name == session and worker}

    def apply_one(self, action: Action) -> Event:
        """Apply one action and report it."""
        if action.worker and action.worker in self.failed:
            return self._event(action, ok=False, error="skipped: an earlier step failed")
        handler = _HANDLERS[action.verb]
        try:
            detail = handler(self, action) or {}
        except (OrchError, OSError) as err:
            if action.worker:
                self.failed.add(action.worker)
            if isinstance(err, SetupFailed | TemplateFailed):  # permanent: no retry loop
                state = self.state(action.worker)
                hint = (
                    f"; fix it, then `orch cleanup {action.worker} --yes` and reconcile"
                    if isinstance(err, SetupFailed)
                    else f"; fix it, then `orch restart {action.worker}`"
                )
                worker = self.desired.workers.get(action.worker)
                self.save(replace(
                    state, phase=Phase.FAILED.value, reason=f"{err}{hint}",
                    stage=action.stage or state.stage, finished_at=self.clock(),
                    run_hashes=dict(worker.run_hashes) if worker else state.run_hashes,
                ))  # fmt: skip
            return self._event(action, ok=False, error=str(err))
        return self._event(action, detail=detail)

    def _event(
        self,
        action: Action,
        ok: bool = True,
        error: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> Event:
        verb = action.verb.value
        if action.verb is Verb.SET_PHASE and action.phase:
            verb = f"phase {action.phase.value}"
        return Event(
            self.clock(),
            action.worker,
            verb,
            action.reason,
            ok,
            error,
            detail or {},
            stage=action.stage,
            attempt=action.attempt,
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
        state = self.states.get(name)
        if state and state.worktree:
            return Path(state.worktree)
        files = self.observed.files.get(name)
        if files and files.path:
            return Path(files.path)
        return self.desired.worktree_path(self.worker(name))

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
            self.repos[key] = Git(path)
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
    created = ap.tmux.ensure_session(ap.desired.config.tmux_session)
    return {"created": created}


def _clone_repo(ap: Applier, action: Action) -> dict[str, object]:
    repo = ap.desired.repos[action.repo or ap.worker(action.worker).repo]
    if not repo.local_path.exists():
        assert repo.url is not None
        shell.clone(repo.url, repo.local_path)
    return {"path": str(repo.local_path)}


def _create_worktree(ap: Applier, action: Action) -> dict[str, object]:
    w = ap.worker(action.worker)
    repo = ap.desired.repos[w.repo]
    path = ap.desired.worktree_path(w)
    git = ap.git(repo.local_path)
    if repo.name not in ap.excluded:  # once per repo and pass
        git.ensure_exclude(".orch/")
        ap.excluded.add(repo.name)
    if not (path / ".git").exists():
        git.worktree_add(path, w.branch, w.base)
    owner = {"worker": w.name, "repo": w.repo, "host": socketlib.gethostname()}
    write_atomic(path / OWNER_FILE, json.dumps(owner) + "\n")
    (path / SIGNALS_DIR).mkdir(parents=True, exist_ok=True)
    ap.save(
        WorkerState(
            name=w.name,
            repo=w.repo,
            repo_path=str(repo.local_path),
            branch=w.branch,
            base=w.base,
            worktree=str(path),
            placement_hash=w.placement_hash,
            run_hashes=dict(w.run_hashes),
            phase=Phase.PROVISIONING.value,
            reason=action.reason,
            created_at=ap.clock(),
        )
    )
    return {"path": str(path)}


def _run_setup(ap: Applier, action: Action) -> dict[str, object]:
    w = ap.worker(action.worker)
    log = ap.desired.state_dir / "logs" / w.name / "setup.log"
    for command in ap.desired.repos[w.repo].setup:
        code = shell.run_logged(command, ap.worktree(w.name), log)
        if code != 0:
            msg = f"setup command `{command}` exited {code} (log: {log})"
            raise SetupFailed(msg)
    # Marks the setup complete: a reconciler killed mid-setup runs it again.
    write_atomic(ap.worktree(w.name) / SETUP_DONE_FILE, f"{ap.clock()}\n")
    return {"log": str(log)}


def _start_agent(ap: Applier, action: Action) -> dict[str, object]:
    window = ap.window(action.worker)

    def stop_old() -> None:
        if window and not window.dead:
            proc.stop_process_group(window.pane_pid, ap.grace)
            ap.wait_dead(window.window_id)

    return start_agent(ap, action, window, stop_old)


def _stop_agent(ap: Applier, action: Action) -> dict[str, object]:
    window = ap.window(action.worker)
    if window and not window.dead:
        proc.stop_process_group(window.pane_pid, ap.grace)
    return {}


def _complete_stage(ap: Applier, action: Action) -> dict[str, object]:
    path = ap.worktree(action.worker) / SIGNALS_DIR / f"{action.stage}.done"
    write_atomic(path, json.dumps({"summary": action.reason}) + "\n")
    return {}


def _set_phase(ap: Applier, action: Action) -> dict[str, object]:
    assert action.phase is not None
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


def _remove_worktree(ap: Applier, action: Action) -> dict[str, object]:
    """Save uncommitted and untracked work to a backup ref, then remove the worktree."""
    path = ap.worktree(action.worker)
    git = ap.git(ap.repo_path(action.worker, path))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ap.clock()))
    ref = f"refs/orch/backups/{action.worker}/{stamp}"
    detail: dict[str, object] = {}
    if (path / ".git").exists():
        sha = git.save_work(path, ref, f"orch: backup of {action.worker}: {action.reason}")
        if sha:
            detail["backup"] = ref
    git.worktree_remove(path)
    return detail


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
    Verb.CLONE_REPO: _clone_repo,
    Verb.CREATE_WORKTREE: _create_worktree,
    Verb.RUN_SETUP: _run_setup,
    Verb.START_AGENT: _start_agent,
    Verb.STOP_AGENT: _stop_agent,
    Verb.COMPLETE_STAGE: _complete_stage,
    Verb.SET_PHASE: _set_phase,
    Verb.REMOVE_WORKTREE: _remove_worktree,
    Verb.KILL_WINDOW: _kill_window,
    Verb.FORGET: _forget,
}
