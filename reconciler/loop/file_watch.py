"""What the watch loop watches: the control repo's folders and every worker's ``.orch/``.

specs/, config/, state/requests/ and the folders of templates and items files
are a handful: watchdog watches them (one emitter thread each). Workers'
``.orch/`` folders are as many as the fleet is large: on Linux they share ONE
inotify instance and ONE thread (:class:`reconciler.drivers.inotify.FolderWatch`),
so the thread count stays bounded at any fleet size; elsewhere watchdog
watches them too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.loop.inbox import REQUESTS_DIR, is_request_name

if TYPE_CHECKING:
    from reconciler.drivers.inotify import FolderWatch
    from reconciler.loop.engine import PassResult


class Watcher:
    """File watches that call ``poke(reason)``: "specs", "config", "request" or "signal"."""

    def __init__(self, root: Path, poke: Callable[[str], None]) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        class Handler(FileSystemEventHandler):
            def __init__(self, reason: str) -> None:
                self.reason = reason

            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                poke(self.reason)

        class RequestHandler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                path = event.dest_path or event.src_path  # a rename ends a request's writing
                if event.event_type != "deleted" and is_request_name(Path(os.fsdecode(path)).name):
                    poke("request")

        self._handler = Handler
        self.observer = Observer()
        self.watched: dict[str, Any] = {}  # watchdog's watches of .orch/ folders (no inotify)
        self.inputs: dict[str, Any] = {}  # folders of templates and items files
        self.folders = _folder_watch(poke)
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
        if self.folders is not None:
            return self._follow_inotify(self.folders, folders, since)
        for gone in set(self.watched) - folders:
            self.observer.unschedule(self.watched.pop(gone))
        added = False
        for new in folders - set(self.watched):
            if Path(new).is_dir():
                self.watched[new] = self.observer.schedule(
                    self._handler("signal"), new, recursive=True
                )
                added = added or _written_since(Path(new), since)
        return added

    @staticmethod
    def _follow_inotify(watch: FolderWatch, folders: set[str], since: float) -> bool:
        current = watch.folders  # a deleted folder dropped out: watched again once it is back
        for gone in current - folders:
            watch.remove(gone)
        added = False
        for new in sorted(folders - current):
            try:
                if watch.add(new):
                    added = added or _written_since(Path(new), since)
            except OSError:
                continue  # e.g. max_user_watches reached: the resync timer still sees it
        return added

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

    def stop(self) -> None:
        """Stop the observer threads."""
        if self.folders is not None:
            self.folders.stop()
        self.observer.stop()
        self.observer.join(timeout=5)


def _folder_watch(poke: Callable[[str], None]) -> FolderWatch | None:
    """One inotify instance for every .orch/ folder, or None where there is none (not Linux)."""
    from reconciler.drivers import inotify

    if not inotify.available():
        return None
    try:
        return inotify.FolderWatch(lambda _folder: poke("signal"))
    except OSError:  # e.g. max_user_instances reached: watchdog per folder, as before
        return None


def _written_since(orch_dir: Path, since: float) -> bool:
    """Whether a signal or the progress notes under ``orch_dir`` changed since ``since``."""
    candidates = [orch_dir / "progress.md"]
    with contextlib.suppress(OSError):
        candidates += list((orch_dir / "signals").iterdir())
    for path in candidates:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime >= since:
                return True
    return False


def worker_folders(result: PassResult) -> set[str]:
    """The .orch/ folder of every worker, desired or still known."""
    desired, states = result.desired, result.observed.states
    worktrees = {s.worktree for s in states.values() if s.worktree}
    worktrees |= {  # a path is resolved (file system calls) only for a worker not started yet
        str(desired.worktree_path(w))
        for name, w in desired.workers.items()
        if not (name in states and states[name].worktree)
    }
    return {f"{w}/.orch" for w in worktrees}
