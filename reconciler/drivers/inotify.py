"""Many small folders watched by ONE inotify instance and ONE thread (Linux).

watchdog gives every scheduled folder its own inotify instance and emitter
thread: a fleet of a thousand workers, each with a ``.orch/`` folder, meant a
thousand threads (and ran into ``fs.inotify.max_user_instances``, 128 by
default). Here one instance carries a watch per folder and per subfolder
(``.orch/`` holds a few, e.g. ``signals/``), and one thread reads them all.

Why not one recursive watch over the worktrees' root: a worktree holds the
project's whole tree (``node_modules``, build output), and inotify has no
recursive watch, so that would mean a watch for each of its folders and an
event for every file a build writes. Why not ``.orch`` as a link into one
folder under the fleet's state: agents, git (``.orch`` excluded as a folder
would show as a link), backups and the archive of ``.orch/`` at teardown all
see the worktree's own folder today; one inotify instance keeps that as it is.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import struct
import threading
from collections.abc import Callable, Iterable

IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000
IN_ONLYDIR = 0x1000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# Everything that changes a file or a folder's entries; opens and reads are not changes.
MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
)  # fmt: skip
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


def available() -> bool:
    """Whether this system has inotify (Linux)."""
    return _libc() is not None


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
    except OSError:
        return None
    if not hasattr(libc, "inotify_init1"):
        return None
    libc.inotify_init1.argtypes = [ctypes.c_int]
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


class FolderWatch:
    """Watch folders (each with its subfolders) and call ``on_change(folder)`` on a change.

    ``on_change`` runs in the one reader thread, with the watched folder (not the
    subfolder) that changed; ``""`` when the kernel's queue overflowed and
    events were lost.
    """

    def __init__(self, on_change: Callable[[str], None]) -> None:
        libc = _libc()
        if libc is None:
            raise OSError("inotify is not available")
        self._libc = libc
        self._on_change = on_change
        self._fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()
        self._roots: dict[str, int] = {}  # watched folder -> its wd
        self._wds: dict[int, tuple[str, str]] = {}  # wd -> (watched folder, this folder)
        self._thread = threading.Thread(target=self._run, name="orch folder watch", daemon=True)
        self._thread.start()

    @property
    def folders(self) -> set[str]:
        """The folders watched now (one that was deleted drops out)."""
        with self._lock:
            return set(self._roots)

    def add(self, folder: str) -> bool:
        """Watch ``folder`` and the folders under it; False when it is not a folder.

        Raises
        ------
        OSError
            When inotify refuses (e.g. ENOSPC: fs.inotify.max_user_watches reached).
        """
        with self._lock:
            if folder in self._roots:
                return True
            wd = self._add_watch(folder, folder)
            if wd is None:
                return False
            self._roots[folder] = wd
            self._add_tree(folder, folder)
        return True

    def remove(self, folder: str) -> None:
        """Stop watching ``folder`` and its subfolders."""
        with self._lock:
            self._roots.pop(folder, None)
            for wd in [wd for wd, (root, _) in self._wds.items() if root == folder]:
                del self._wds[wd]
                self._libc.inotify_rm_watch(self._fd, wd)  # gone already: EINVAL, harmless

    def stop(self) -> None:
        """Stop the thread and close the inotify instance."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._fd, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _add_watch(self, root: str, folder: str) -> int | None:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (2, 20):  # ENOENT, ENOTDIR: not (or no longer) a folder
                return None
            raise OSError(err, f"inotify_add_watch {folder}: {os.strerror(err)}")
        self._wds[wd] = (root, folder)
        return int(wd)

    def _add_tree(self, root: str, folder: str) -> None:
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and self._add_watch(root, entry.path):
                    self._add_tree(root, entry.path)

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._wake_r in ready:
                return
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                continue
            except OSError:
                return
            for root in self._changed(data):
                self._on_change(root)

    def _changed(self, data: bytes) -> Iterable[str]:
        """The watched folders the events in ``data`` are about; new subfolders get watches."""
        roots: list[str] = []
        offset = 0
        with self._lock:
            while offset + _HEADER.size <= len(data):
                wd, mask, _, size = _HEADER.unpack_from(data, offset)
                name = data[offset + _HEADER.size : offset + _HEADER.size + size].rstrip(b"\0")
                offset += _HEADER.size + size
                if mask & IN_Q_OVERFLOW:  # events were lost: say that something changed
                    roots.append("")
                where = self._wds.get(wd)
                if where is None:
                    continue
                root, folder = where
                if mask & IN_IGNORED:  # the folder was deleted or unwatched
                    del self._wds[wd]
                    if self._roots.get(root) == wd:
                        del self._roots[root]
                    continue
                if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                    sub = f"{folder}/{os.fsdecode(name)}"
                    with contextlib.suppress(OSError):
                        if self._add_watch(root, sub):
                            self._add_tree(root, sub)
                if root not in roots:
                    roots.append(root)
        return roots
