"""`orch wait`: the real CLI in a subprocess, real workers in tmux, a watcher in a thread.

Phases are moved by writing the workers' signal files, as agents do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
WatchThread = Any  # tests/integration/conftest.py:WatchThread
Retry = Callable[..., Any]


def setup(fleet: Fleet, names: list[str], extra: str = "") -> None:
    fleet.settings("resync: 1s, debounce: 100ms", extra=extra)
    fleet.base("sleep.sh")
    fleet.workers(names)


def signal(fleet: Fleet, worker: str, kind: str) -> None:
    """Write the worker's stage signal (``done`` or ``failed``), as its agent would."""
    path = fleet.worktree(worker) / ".orch" / "signals" / f"work.{kind}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": f"test says {kind}"}) + "\n")


def start_wait(fleet: Fleet, *args: str) -> subprocess.Popen[str]:
    # `python -m reconciler`: no `from conftest import`, which picks whichever
    # conftest module pytest loaded last when several test folders run together.
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "--root", str(fleet.root), "wait", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ORCH_TMUX_SOCKET": fleet.socket},
        stdin=subprocess.DEVNULL,
    )


def running(fleet: Fleet) -> bool:
    return all(row["phase"] == "Running" for row in fleet.status().values())


def test_wait_with_a_watcher_exits_0_when_every_worker_succeeded(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    setup(fleet, ["w1", "w2"])
    watch = watch_thread()
    retry_until(lambda: running(fleet), 30, message="both running")
    proc = start_wait(fleet, "--json", "--timeout", "60s")
    signal(fleet, "w1", "done")
    retry_until(lambda: fleet.status()["w1"]["phase"] == "Succeeded", 20)
    assert proc.poll() is None  # w2 still runs
    signal(fleet, "w2", "done")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    data = json.loads(out)
    assert data["code"] == 0 and data["timedOut"] is False
    assert [(w["name"], w["phase"]) for w in data["workers"]] == [
        ("w1", "Succeeded"),
        ("w2", "Succeeded"),
    ]
    assert "no `orch reconcile --watch` is running" not in err
    watch.close()


def test_wait_exits_1_when_one_failed_and_waits_only_for_the_named_ones(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    setup(fleet, ["w1", "w2", "w3"])
    watch = watch_thread()
    retry_until(lambda: running(fleet), 30, message="all running")
    both = start_wait(fleet, "w1", "w2", "--timeout", "60s")
    signal(fleet, "w1", "done")
    signal(fleet, "w2", "failed")
    out, err = both.communicate(timeout=60)
    assert both.returncode == 1, (out, err)
    lines = out.splitlines()
    assert sorted(lines[:2]) == ["w1: Succeeded", "w2: Failed"], out
    assert lines[2].split() == ["NAME", "PHASE", "STAGE", "REASON"]
    assert lines[3].split()[:4] == ["w1", "Succeeded", "done", "(1/1)"]
    assert lines[4].split()[:2] == ["w2", "Failed"]
    assert "test says failed" in lines[4]
    assert len(lines) == 5  # w3 runs on, not waited for
    assert fleet.status()["w3"]["phase"] == "Running"
    watch.close()


def test_wait_without_a_watcher_says_so_and_times_out_with_124(
    fleet: Fleet, retry_until: Retry
) -> None:
    setup(fleet, ["w1", "w2"])
    fleet.reconcile()
    signal(fleet, "w1", "done")
    fleet.reconcile()
    assert fleet.status()["w1"]["phase"] == "Succeeded"
    proc = start_wait(fleet, "--timeout", "1s")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 124, (out, err)
    assert "note: no `orch reconcile --watch` is running for this control repo" in err
    assert "waiting until --timeout" in err
    assert "timed out waiting for w2" in err
    assert out.splitlines()[0] == "w1: Succeeded"
    assert "w2    Running" in out

    # once a pass made it final, wait returns at once, watcher or not
    signal(fleet, "w2", "failed")
    fleet.reconcile()
    done = fleet.cli("wait", "--json")
    assert done.returncode == 1, done
    assert {w["name"]: w["phase"] for w in json.loads(done.stdout)["workers"]} == {
        "w1": "Succeeded",
        "w2": "Failed",
    }


def test_wait_refuses_unknown_workers_and_workers_of_another_host(fleet: Fleet) -> None:
    setup(fleet, [], extra="host: {name: here}")
    fleet.workers({"mine": {}, "theirs": {"host": "there"}})
    unknown = fleet.cli("wait", "nope", "--timeout", "1s")
    assert unknown.returncode == 1, unknown
    assert unknown.stderr == 'error: unknown worker "nope"; `orch get workers` lists them\n'
    elsewhere = fleet.cli("wait", "theirs")
    assert elsewhere.returncode == 1, elsewhere
    assert 'worker "theirs" runs on host there, not on here: wait there' in elsewhere.stderr
    bad = fleet.cli("wait", "--timeout", "soon")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: --timeout: bad duration")
