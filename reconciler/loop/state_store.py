"""Runtime state under state/: one JSON file per worker, written atomically; the lock.

Specs are only read; what orch learns at run time (attempts, restarts, reasons,
times, session ids) lives here, outside git. Deleting state/ loses only what
cannot be observed again (restart counts, failure reasons, session ids).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from reconciler.core.errors import LockHeld, StateError
from reconciler.core.model import WorkerState
from reconciler.loop.secrets import redactor

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
LOCK_FILE = ".lock"


def check_folder(path: Path) -> None:
    """Raise StateError when ``path`` exists and is not a folder (a file where one belongs)."""
    if path.exists() and not path.is_dir():
        msg = (
            f"{path} should be a folder but is a file; it is orch's runtime state: "
            "move it aside and run again"
        )
        raise StateError(msg)


def write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    ``mode``: the file's permissions (set before the text is written), e.g.
    0o600 for what only the user may read.

    The temporary name is fixed per process (``.<name>.<pid>.tmp``): one writer
    per file at a time holds, as the reconciler lock ensures, and it saves
    ``mkstemp``'s random names.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            fh = tmp.open("w")
        except FileNotFoundError:  # the folder is new: make it (rarely needed)
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = tmp.open("w")
        with fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(text)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# path -> ((inode, mtime_ns, size), state): a watch reads a thousand state files a pass,
# and write_atomic gives every write a new inode. A stamp younger than RACY_NS is not
# trusted (an edit in place within the clock's tick would keep the mtime).
_READ: dict[str, tuple[tuple[int, int, int], WorkerState]] = {}
RACY_NS = 2_000_000_000


def _read_state(path: str) -> WorkerState:
    """One state file, parsed; again only when it changed since the last read."""
    st = os.stat(path)  # noqa: PTH116 - str paths: a thousand a pass
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    cached = _READ.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with open(path, "rb") as fh:  # noqa: PTH123
        state = WorkerState.from_json(json.loads(fh.read().decode("utf-8")))
    if st.st_mtime_ns < time.time_ns() - RACY_NS:
        _READ[path] = (stamp, state)
    return state


class StateStore:
    """state/workers/*.json of one control repo."""

    def __init__(self, state_dir: Path, fleet: str = "") -> None:
        self.dir = state_dir / "workers"
        self.fleet = fleet
        self.corrupt: list[tuple[Path, str]] = []  # files load_all could not read, and why

    def path(self, name: str) -> Path:
        """The file of worker ``name``."""
        return self.dir / f"{name}.json"

    def load_all(self) -> dict[str, WorkerState]:
        """Every readable state file; an unreadable one is listed in ``corrupt``.

        Raises StateError when state/ or state/workers is not a folder.
        """
        out: dict[str, WorkerState] = {}
        self.corrupt = []
        check_folder(self.dir.parent)
        check_folder(self.dir)
        if not self.dir.exists():
            return out
        with os.scandir(self.dir) as entries:  # names, not Paths, are sorted: a thousand a pass
            names = sorted(e.name for e in entries if e.name.endswith(".json"))
        for name in names:
            try:
                state = _read_state(f"{self.dir}/{name}")
            except (OSError, ValueError, TypeError) as err:
                self.corrupt.append((self.dir / name, f"{type(err).__name__}: {err}"))
                continue
            if state.name != name.removesuffix(".json") or not NAME.match(state.name):
                continue  # not one of ours: a renamed or hand-made file
            if state.fleet and self.fleet and state.fleet != self.fleet:
                continue  # a copied control repo's state: another fleet's workers
            out[state.name] = state
        return out

    def quarantine(self, now: float) -> list[tuple[str, str, str]]:
        """Move each corrupt state file aside (``<name>.json.corrupt-<time>``).

        Returns (worker, where it went, why) for each: the caller records an
        event; nothing is silently dropped.
        """
        moved = []
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        for path, why in self.corrupt:
            aside = path.with_name(f"{path.name}.corrupt-{stamp}")
            with contextlib.suppress(OSError):
                path.replace(aside)
                moved.append((path.stem, str(aside), why))
        self.corrupt = []
        return moved

    def save(self, state: WorkerState) -> None:
        """Write one worker's state atomically."""
        data = redactor().data(state.to_json())  # a reason or error may quote a secret
        write_atomic(self.path(state.name), json.dumps(data, indent=1, sort_keys=True))

    def forget(self, name: str) -> None:
        """Delete one worker's state file (missing is fine)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()


class LockHeldBy(LockHeld):
    """The lock is held; ``info`` is what its holder wrote (pid, host, since, watch)."""

    def __init__(self, info: dict[str, object]) -> None:
        self.info = info
        super().__init__(describe_holder(info))

    @property
    def watch(self) -> bool:
        """Whether the holder is `orch reconcile --watch` (it takes requests)."""
        return self.info.get("watch") is True


# A command asking whether a reconciler runs holds a shared lock for microseconds
# (reconciler_info.lock_is_held): a reconciler starting then tries a few times.
LOCK_TRIES, LOCK_PAUSE = 5, 0.01


def _take(fd: int) -> bool:
    """The exclusive flock on ``fd``, tried LOCK_TRIES times; False when another holds it."""
    for attempt in range(LOCK_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if attempt + 1 < LOCK_TRIES:
                time.sleep(LOCK_PAUSE)
            continue
        return True
    return False


@contextlib.contextmanager
def reconciler_lock(state_dir: Path, *, watch: bool = False) -> Iterator[None]:
    """Hold state/.lock for one reconciler per control repo (safety rule 4).

    The file tells who holds it: ``{"pid", "host", "since", "watch"}``; ``watch``
    is true for `orch reconcile --watch`, which applies the requests commands
    leave in state/requests/ meanwhile. flock is released by the kernel when its
    holder dies, so a lock left by a killed reconciler is taken over at once.

    Raises
    ------
    LockHeldBy
        When another process holds it (exit code 3).
    """
    check_folder(state_dir)
    path = state_dir / LOCK_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        msg = f"cannot open the lock {path}: {err.strerror}; move it aside and run again"
        raise StateError(msg) from None
    try:
        if not _take(fd):
            raise LockHeldBy(lock_holder(state_dir))
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": _utc(time.time())}
        if watch:
            info["watch"] = True
        data = json.dumps(info).encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        yield
    finally:
        os.close(fd)


def lock_holder(state_dir: Path) -> dict[str, object]:
    """What the lock file says about its (last) holder; empty when unreadable."""
    try:
        info = json.loads((state_dir / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def holder_alive(info: dict[str, object]) -> bool | None:
    """Whether the pid the lock file names still runs; None when that cannot be told
    here (another host's, or no pid)."""
    pid = info.get("pid")
    if info.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, another user's
        return True
    return True


def running_watcher(state_dir: Path) -> dict[str, object] | None:
    """What the lock says about a live `orch reconcile --watch` on this machine, or None.

    Read without taking the lock (taking it, even for a moment, could make a
    watcher starting then fail): the holder's pid must be alive on this host.
    """
    info = lock_holder(state_dir)
    return info if info.get("watch") is True and holder_alive(info) else None


def describe_holder(info: dict[str, object]) -> str:
    """``pid N on host H since T``, and what it is when it is a watcher."""
    text = (
        f"pid {info.get('pid', '?')} on host {info.get('host', '?')} since {info.get('since', '?')}"
    )
    return text + (" (orch reconcile --watch)" if info.get("watch") is True else "")


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
