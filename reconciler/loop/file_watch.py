"""Every worker's ``.orch/`` folder watched, with threads that do not grow with the fleet.

The watch loop's other folders (specs/, config/, state/requests/, the folders
of templates and items files) are a handful, and watchdog watches them with
one emitter thread each. Workers' ``.orch/`` folders are as many as the fleet
is large: on Linux they share ONE inotify instance and ONE reader thread
(:class:`reconciler.drivers.inotify.FolderWatch`), so a thousand workers cost
the same dozen threads as ten. Without inotify (another system, or no
instance left) watchdog watches each folder, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.drivers.inotify import FolderWatch


class WorkerFolders:
    """Workers' ``.orch/`` folders (and their subfolders): a change calls ``poke("signal")``.

    ``observer`` and ``handler`` are watchdog's, used only without inotify.
    """

    def __init__(self, poke: Callable[[str], None], observer: Any, handler: Any) -> None:
        self.inotify = _folder_watch(poke)
        self.observer, self.handler = observer, handler
        self.watched: dict[str, Any] = {}  # folder -> watchdog's watch (no inotify)

    def follow(self, folders: set[str], since: float) -> bool:
        """Watch exactly ``folders``; True when a new one holds a note written since ``since``."""
        if self.inotify is not None:
            return _follow(self.inotify, folders, since)
        for gone in set(self.watched) - folders:
            self.observer.unschedule(self.watched.pop(gone))
        added = False
        for new in folders - set(self.watched):
            if Path(new).is_dir():
                self.watched[new] = self.observer.schedule(self.handler, new, recursive=True)
                added = added or _written_since(Path(new), since)
        return added

    def stop(self) -> None:
        """Stop the inotify reader thread (watchdog's watches stop with their observer)."""
        if self.inotify is not None:
            self.inotify.stop()


def _follow(watch: FolderWatch, folders: set[str], since: float) -> bool:
    current = watch.folders  # a deleted folder dropped out: watched again once it is back
    for gone in current - folders:
        watch.remove(gone)
    added = False
    for new in sorted(folders - current):
        try:
            if watch.add(new):
                added = added or _written_since(Path(new), since)
        except OSError:
            continue  # e.g. fs.inotify.max_user_watches reached: the resync timer still sees it
    return added


def _folder_watch(poke: Callable[[str], None]) -> FolderWatch | None:
    """One inotify instance for every .orch/ folder, or None where there is none."""
    from reconciler.drivers import inotify

    if not inotify.available():
        return None
    try:
        return inotify.FolderWatch(lambda _folder: poke("signal"))
    except OSError:  # e.g. fs.inotify.max_user_instances reached
        return None


def _written_since(orch_dir: Path, since: float) -> bool:
    """Whether a signal or the progress notes under ``orch_dir`` changed since ``since``.

    inotify reports nothing about files written before the watch began.
    """
    candidates = [orch_dir / "progress.md"]
    with contextlib.suppress(OSError):
        candidates += list((orch_dir / "signals").iterdir())
    for path in candidates:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime >= since:
                return True
    return False
