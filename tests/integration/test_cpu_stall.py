"""A silent agent busy on the CPU is not a stall; a silent agent asleep is.

Script agents (no hooks) under a real watcher on the test's tmux server, with
stallTimeout 3s: tests/agents/compute.sh runs a child busy for longer than
that without a line of output; tests/agents/sleep.sh prints one line and sleeps.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
WatchThread = Any
Retry = Callable[..., Any]


def test_silent_computing_is_not_restarted_and_silent_sleeping_is(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    fleet.settings("resync: 1s, maxPruneFraction: 0.5, cpuActivity: 0.2")
    fleet.base(
        "compute.sh",
        agents={"sleeper": "sleep.sh"},
        env={"PYTHON": sys.executable, "COMPUTE_SECONDS": "10"},
        stages=[fleet.stage("work", stallTimeout="3s")],
    )
    policy = {"maxRestarts": 3, "backoff": {"initial": "1m", "max": "1m"}}
    fleet.workers(
        {"busy": {"restartPolicy": policy}, "idle": {"agent": "sleeper", "restartPolicy": policy}}
    )
    watch = watch_thread()

    def phase(name: str) -> str | None:
        try:
            return str(fleet.state(name)["phase"])
        except (OSError, ValueError, KeyError):
            return None

    retry_until(lambda: phase("idle") == "Backoff", seconds=60, message="the sleeper stalled")
    retry_until(lambda: phase("busy") == "Succeeded", seconds=90, message="the computer done")
    watch.close()

    events = [json.loads(line) for line in (fleet.root / "state" / "events.jsonl").open()]
    stalls = {e["worker"] for e in events if "stalled" in e.get("reason", "")}
    assert stalls == {"idle"}, [e for e in events if "stalled" in e.get("reason", "")]
    busy = fleet.state("busy")
    assert busy["attempt"] == 1 and busy["restarts"] == 0, busy
    assert any(e["worker"] == "idle" and "no activity" in e["reason"] for e in events)
    marks = json.loads((fleet.root / "state" / "activity.json").read_text())
    assert marks["busy#cpu"]["active_at"] is not None  # CPU was seen, and kept in state/
