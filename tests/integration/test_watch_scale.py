"""The watcher's threads do not grow with the fleet; signal files still wake it at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from reconciler.loop.watch import Trigger, _Watcher

Fleet = Any  # tests/integration/conftest.py:Fleet
WatchThread = Any  # tests/integration/conftest.py:WatchThread
Retry = Callable[..., Any]
THREAD_BOUND = 20


def orch_dirs(base: Path, count: int) -> set[str]:
    """``count`` worker folders shaped as orch leaves them: ``.orch/signals/``."""
    out = set()
    for i in range(count):
        folder = base / f"w{i:03d}" / ".orch"
        (folder / "signals").mkdir(parents=True, exist_ok=True)
        out.add(str(folder))
    return out


class Pokes(Trigger):
    """A Trigger that also keeps every reason it was poked with, for the test to read."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def poke(self, reason: str) -> None:
        self.seen.append(reason)
        super().poke(reason)

    def clear(self) -> None:
        self.seen.clear()

    def __contains__(self, reason: str) -> bool:
        return reason in list(self.seen)


def test_watcher_threads_are_bounded_and_independent_of_folders(
    tmp_path: Path, retry_until: Retry
) -> None:
    pokes = Pokes()
    (tmp_path / "ctl" / "specs").mkdir(parents=True)
    before = threading.active_count()
    watcher = _Watcher(tmp_path / "ctl", pokes)
    try:
        watcher.follow_workers(orch_dirs(tmp_path / "wt", 20), time.time())
        with_20 = threading.active_count()
        folders = orch_dirs(tmp_path / "wt", 200)
        watcher.follow_workers(folders, time.time())
        with_200 = threading.active_count()
        assert with_200 == with_20, (before, with_20, with_200)
        assert with_200 - before <= THREAD_BOUND

        # a signal deep in the fleet, in a folder watched from the start and in a new one
        for name in ("w150", "w007"):
            pokes.clear()
            (tmp_path / "wt" / name / ".orch" / "signals" / "s1.done").write_text("{}\n")
            retry_until(lambda: "signal" in pokes, 5, message=f"{name}'s signal seen")
        # a folder made after the watch began is watched too
        pokes.clear()
        (tmp_path / "wt" / "w199" / ".orch" / "later").mkdir()
        retry_until(lambda: "signal" in pokes, 5)
        pokes.clear()
        (tmp_path / "wt" / "w199" / ".orch" / "later" / "note").write_text("x")
        retry_until(lambda: "signal" in pokes, 5, message="a file in a new subfolder")

        # a worker left the fleet: its folder is watched no more
        gone = str(tmp_path / "wt" / "w100" / ".orch")
        watcher.follow_workers(folders - {gone}, time.time())
        inotify = watcher.workers.inotify
        assert inotify is not None and gone not in inotify.folders
        pokes.clear()
        (tmp_path / "wt" / "w100" / ".orch" / "signals" / "s1.done").write_text("{}\n")
        (tmp_path / "wt" / "w101" / ".orch" / "progress.md").write_text("x")  # a marker event
        retry_until(lambda: "signal" in pokes, 5)
        assert len(inotify.folders) == 199
    finally:
        watcher.stop()
    assert threading.active_count() <= before + 1  # the reader thread ended


def test_a_folder_with_signals_already_written_asks_for_another_pass(tmp_path: Path) -> None:
    (tmp_path / "ctl").mkdir()
    watcher = _Watcher(tmp_path / "ctl", Trigger())
    try:
        since = time.time() - 5
        folders = orch_dirs(tmp_path / "wt", 3)
        assert not watcher.follow_workers(folders, since)
        more = orch_dirs(tmp_path / "more", 1)
        (Path(next(iter(more))) / "signals" / "s1.done").write_text("{}\n")
        assert watcher.follow_workers(folders | more, since)
    finally:
        watcher.stop()


def own_threads() -> int:
    return psutil.Process().num_threads()


def test_watch_loop_over_200_workers_keeps_its_threads_and_reacts_to_a_signal(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    fleet.settings("resync: 1h, debounce: 100ms, maxPruneFraction: 0.5")
    fleet.base("watch/sleep_long.sh", stages=[fleet.stage("s1"), fleet.stage("s2")])
    fleet.workers([f"w{i:03d}" for i in range(20)])
    watch = watch_thread()

    def settled(count: int) -> Callable[[], int | None]:
        def probe() -> int | None:
            live = [w for w in fleet.owned().values() if w["pane_dead"] == "0"]
            return own_threads() if len(live) == count else None

        return probe

    retry_until(settled(20), 60, interval=0.5, message="20 windows")
    with_20 = retry_until(steady_threads, 10)
    fleet.workers([f"w{i:03d}" for i in range(200)])  # the spec edit wakes the watch
    retry_until(settled(200), 120, interval=0.5, message="200 windows")
    with_200 = retry_until(steady_threads, 10)
    assert with_200 <= with_20 + 1, (with_20, with_200)  # +1: a tmux call's thread in flight

    signal = fleet.worktree("w150") / ".orch" / "signals" / "s1.done"
    signal.write_text('{"summary": "done"}\n')
    retry_until(
        lambda: (fleet.window("w150") or {}).get("@orch-stage") == "s2",
        30,
        interval=0.2,
        message="w150 on to s2 (resync is 1h: only the file event can do it)",
    )
    watch.close()


def steady_threads() -> int | None:
    """The thread count, once it stayed the same for half a second (no tmux call in flight)."""
    first = own_threads()
    time.sleep(0.5)
    return first if own_threads() == first else None
