"""`orch reconcile --watch`: reconcile on file events and on a resync timer.

Triggers: watchdog events under specs/ and config/ (debounced by
reconcile.debounce), changes in workers' ``.orch/`` folders (signals,
progress notes), requests of commands in state/requests/ (applied before each
pass, see :mod:`reconciler.loop.requests`), and a full resync every
reconcile.resync (with jitter) for the time-based checks. An invalid spec is
reported once and the last valid desired state stays in force. The first
SIGINT/SIGTERM finishes the current pass and returns, leaving agents running;
a second one exits at once.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from reconciler.core.errors import OrchError, SpecErrors
from reconciler.core.model import Desired
from reconciler.core.plan import blocked_note
from reconciler.loop import control_repo, engine, spec_revision
from reconciler.loop.desired_cache import fingerprint
from reconciler.loop.events import Event
from reconciler.loop.file_watch import WorkerFolders
from reconciler.loop.inbox import REQUESTS_DIR, Inbox, is_request_name
from reconciler.loop.requests import serve
from reconciler.loop.state_store import reconciler_lock

MAX_UNKNOWN_ERRORS = 5  # then the watch stops with the error (kopf's lesson: bound them)
MAX_DEBOUNCE_WAIT = 2.0  # a steady stream of events still gets a pass this often
STOPPING_RECHECK = 0.2  # seconds to the next pass while agents stop (never waited for in one)


class Trigger:
    """Collects pokes from watchdog's thread; the loop waits on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._reasons: list[str] = []
        self._last = 0.0

    def poke(self, reason: str) -> None:
        """Ask for a pass (thread-safe)."""
        with self._cond:
            self._reasons.append(reason)
            self._last = time.monotonic()
            self._cond.notify_all()

    def wait(self, timeout: float, debounce: float) -> list[str]:
        """Block until poked (then until quiet for ``debounce``) or ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._reasons:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)
            first = time.monotonic()
            while True:
                quiet_for = time.monotonic() - self._last
                if quiet_for >= debounce or time.monotonic() - first >= MAX_DEBOUNCE_WAIT:
                    break
                self._cond.wait(debounce - quiet_for)
            reasons, self._reasons = self._reasons, []
            return reasons


class StopFlag:
    """First signal: stop after this pass. Second: exit now."""

    def __init__(self, trigger: Trigger, hard_exit: bool = False) -> None:
        self.requested = False
        self.trigger = trigger
        self.hard_exit = hard_exit

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler."""
        if self.requested:
            if self.hard_exit:
                # At once means at once: a git or tmux call in flight keeps a timer
                # thread that interpreter shutdown would wait for. Agents run on in
                # tmux; the lock is a flock the kernel drops with the process.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(128 + signum)
            raise SystemExit(128 + signum)
        self.requested = True
        self.trigger.poke("stop")

    def install(self) -> dict[int, Any]:
        """Install for SIGINT and SIGTERM; return the old handlers."""
        return {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}


class _Watcher:
    """watchdog observers on specs/, config/, state/requests/; workers' .orch/ folders."""

    def __init__(self, root: Path, trigger: Trigger) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        class Handler(FileSystemEventHandler):
            def __init__(self, reason: str, only: Callable[[str], bool] | None = None) -> None:
                self.reason, self.only = reason, only

            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                if self.only is None or self.only(os.fsdecode(event.dest_path or event.src_path)):
                    trigger.poke(self.reason)

        class RequestHandler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                path = event.dest_path or event.src_path  # a rename ends a request's writing
                if event.event_type != "deleted" and is_request_name(Path(os.fsdecode(path)).name):
                    trigger.poke("request")

        self._handler = Handler
        self.observer = Observer()
        self.workers = WorkerFolders(trigger.poke, self.observer, Handler("signal"))
        self.inputs: dict[str, Any] = {}  # folders of templates and items files
        self.commits: list[Any] = []  # .git folders, with reconcile.source: committed
        for name in ("specs", "config"):
            folder = root / name
            if folder.is_dir():
                self.observer.schedule(Handler(name), str(folder), recursive=True)
        requests = root / "state" / REQUESTS_DIR
        requests.mkdir(parents=True, exist_ok=True)
        self.observer.schedule(RequestHandler(), str(requests))
        self.observer.start()

    def follow_workers(self, folders: set[str], since: float) -> bool:
        """Watch exactly these workers' .orch/ folders.

        inotify reports nothing about files written before the watch began: True
        when a newly watched folder already holds a signal or progress note
        written since ``since`` (the start of the pass), so the caller runs again.
        """
        return self.workers.follow(folders, since)

    def follow_inputs(self, root: Path, inputs: tuple[str, ...]) -> None:
        """Watch the folders of the templates and items files the specs use (not recursive).

        specs/ and config/ are watched already; a changed template reloads the specs.
        """
        folders = {str((root / rel).parent) for rel in inputs}
        covered = (str(root / "specs"), str(root / "config"))
        for folder in sorted(folders - set(self.inputs)):
            if folder.startswith(covered) or not Path(folder).is_dir():
                continue
            self.inputs[folder] = self.observer.schedule(self._handler("specs"), folder)

    def follow_commits(self, root: Path) -> None:
        """With ``reconcile.source: committed`` a commit (HEAD, refs) changes the specs."""
        wanted = control_repo.is_committed(root)
        if wanted == bool(self.commits):
            return
        for watch in self.commits:
            self.observer.unschedule(watch)
        folders = control_repo.commit_folders(root) if wanted else []
        handler = self._handler("commit", control_repo.is_ref_change)
        self.commits = [self.observer.schedule(handler, f, recursive=r) for f, r in folders]

    def stop(self) -> None:
        """Stop the observer threads."""
        self.workers.stop()
        self.observer.stop()
        self.observer.join(timeout=5)


def _worker_folders(result: engine.PassResult) -> set[str]:
    """The .orch/ folder of every worker, desired or still known."""
    desired, states = result.desired, result.observed.states
    worktrees = {s.worktree for s in states.values() if s.worktree}
    worktrees |= {  # a path is resolved (file system calls) only for a worker not started yet
        str(desired.worktree_path(w))
        for name, w in desired.workers.items()
        if not (name in states and states[name].worktree)
    }
    return {f"{w}/.orch" for w in worktrees}


def watch_loop(
    root: Path,
    *,
    allow_mass_prune: bool,
    emit: Callable[[Event | str], None],
    clock: Callable[[], float] = time.time,
    stop: StopFlag | None = None,
    until: Callable[[engine.PassResult], bool] | None = None,
) -> None:
    """Reconcile ``root`` until stopped, or until ``until`` holds after a pass.

    ``emit`` gets each event and notice.
    """
    trigger = stop.trigger if stop else Trigger()
    flag = stop or StopFlag(trigger, hard_exit=True)
    old = flag.install() if stop is None else {}
    try:
        with reconciler_lock(root / "state", watch=True):
            _loop(root, trigger, flag, allow_mass_prune, emit, clock, until)
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


def _loop(
    root: Path,
    trigger: Trigger,
    flag: StopFlag,
    allow_mass_prune: bool,
    emit: Callable[[Event | str], None],
    clock: Callable[[], float],
    until: Callable[[engine.PassResult], bool] | None = None,
) -> None:
    watcher = _Watcher(root, trigger)
    side = _SideJobs(root, emit, clock)
    specs = SpecCache(root, emit)
    inbox = Inbox(root / "state")
    desired: Desired | None = None
    emit(f"watching {root} (Ctrl-C stops; agents keep running)")
    unknown = 0  # consecutive unexpected errors: retried, but only so often
    try:
        wait = 0.0
        while not flag.requested:
            trigger.wait(wait, debounce=desired.config.debounce if desired else 0.2)
            if flag.requested:
                break
            wait = 10.0  # until specs load; then reconcile.resync
            serve(root, inbox, emit, time.time())  # before the pass: it sees what they changed
            try:
                side.maybe_pull(desired)
                desired = specs.current()
                watcher.follow_commits(root)
                if desired is not None:
                    watcher.follow_inputs(root, desired.inputs)
                    wait = desired.config.resync * random.uniform(0.9, 1.1)
                    soon, result = _one_pass(
                        desired, allow_mass_prune, emit, clock, watcher, trigger, side
                    )
                    if until is not None and until(result):
                        break
                    if soon is not None:
                        wait = min(wait, soon)
                unknown = 0
            except (OrchError, OSError) as err:  # transient: tmux, git, the file system
                emit(f"warning: pass failed, retrying in {wait:.0f}s: {err}")
            except Exception as err:
                unknown += 1
                if unknown >= MAX_UNKNOWN_ERRORS:
                    raise
                emit(
                    f"warning: unexpected {type(err).__name__} ({unknown}/"
                    f"{MAX_UNKNOWN_ERRORS}), retrying in {wait:.0f}s: {err}"
                )
    finally:
        watcher.stop()
        emit("stopped; agents keep running, the next `orch reconcile` adopts them")


def _one_pass(
    desired: Desired,
    allow_mass_prune: bool,
    emit: Callable[[Event | str], None],
    clock: Callable[[], float],
    watcher: _Watcher,
    trigger: Trigger,
    side: _SideJobs,
) -> tuple[float | None, engine.PassResult]:
    """One pass and what follows it; seconds until the next pass is due, if sooner than resync.

    Agents on their way out are followed up soon (never waited for in a pass);
    a start held by startInterval or an account's pause is due when it ends,
    and so is a report commit waiting for its interval or settle window.
    """
    started = time.time()
    result = engine.apply_pass(desired, allow_mass_prune=allow_mass_prune, clock=clock)
    for event in result.events:
        emit(event)
    if result.plan.blocked:
        emit(f"warning: {blocked_note(result.plan)}")
    if watcher.follow_workers(_worker_folders(result), started):
        trigger.poke("new worker folders")
    report_due = side.after_pass(result)
    if result.plan.stopping:
        return STOPPING_RECHECK, result
    due = [t for t in (result.plan.wake_at, report_due) if t is not None]
    if due:
        return max(STOPPING_RECHECK, min(due) - clock()), result
    return None, result


class _SideJobs:
    """GitOps pull of the control repo, notifications and report commits, on their own timers."""

    def __init__(
        self, root: Path, emit: Callable[[Event | str], None], clock: Callable[[], float]
    ) -> None:
        from reconciler.loop.notify import Notifier
        from reconciler.loop.report_timer import ReportTimer

        self.root, self.emit, self.clock = root, emit, clock
        self.next_pull = 0.0
        self.reports = ReportTimer(emit)
        self.notifier = Notifier(emit)

    def maybe_pull(self, desired: Desired | None) -> None:
        """Fetch and fast-forward the control repo every git.pullInterval (when git.pull)."""
        if desired is None or not desired.config.git_pull or self.clock() < self.next_pull:
            return
        self.next_pull = self.clock() + desired.config.pull_interval
        for line in control_repo.pull_once(self.root):
            self.emit(line)

    def after_pass(self, result: engine.PassResult) -> float | None:
        """The specs' revision memo kept current for `orch status` (git asked only when
        something it depends on moved: :mod:`reconciler.loop.spec_revision`),
        notifications (:mod:`reconciler.loop.notify`), then the report's turn
        (:mod:`reconciler.loop.report_timer`); when either is due next."""
        spec_revision.remember(result.desired.root, result.desired.state_dir)
        told = self.notifier.after_pass(result, self.clock())
        report = self.reports.after_pass(result, self.clock())
        return min((t for t in (told, report) if t is not None), default=None)


class SpecCache:
    """The last valid desired state; specs are parsed again only when their files change."""

    def __init__(self, root: Path, emit: Callable[[Event | str], None]) -> None:
        self.root, self.emit = root, emit
        self.desired: Desired | None = None
        self.error: str | None = None
        self.seen: tuple[str, tuple[tuple[str, int, int], ...]] | None = None

    def current(self) -> Desired | None:
        """The specs as they are now, or the last valid ones (an error is told once)."""
        inputs = self.desired.inputs if self.desired else ()
        seen = (control_repo.source_stamp(self.root), fingerprint(self.root, inputs))
        if seen == self.seen:
            return self.desired
        self.seen = seen
        try:
            fresh = engine.load(self.root, remember=True)
        except SpecErrors as err:
            text = str(err)
            if text != self.error:
                self.emit(
                    "specs invalid; keeping the last valid desired state, nothing is torn "
                    f"down:\n{text}"
                )
            self.error = text
            return self.desired
        if self.error is not None:
            self.emit("specs valid again; reconciling")
        self.desired, self.error = fresh, None
        self.seen = (seen[0], fingerprint(self.root, fresh.inputs))  # with the inputs it names
        return fresh
