"""Every error is bounded and each worker's own: a failing action, a hung git call."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from typing import Any

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
Retry = Callable[..., object]


def test_a_failing_action_is_the_workers_reason_backs_off_then_fails(
    fleet: Fleet, retry_until: Retry
) -> None:
    fleet.base("sleep.sh")
    fleet.workers(
        {
            "bad": {
                "base": "no-such-base",
                "restartPolicy": {"maxRestarts": 1, "backoff": {"initial": "1s"}},
            },
            "good": {},
        }
    )
    result = fleet.reconcile(check=False)
    assert [(e.verb, e.worker) for e in result.events if not e.ok] == [
        ("create-worktree", "bad"),
        ("start-agent", "bad"),  # skipped: it would build on the failed step
    ]
    row = fleet.status()["bad"]  # at once, not "Provisioning: new worker"
    assert row["phase"] == "Backoff"
    why = "create-worktree: git worktree: fatal: not a valid object name: 'no-such-base'"
    assert why in row["reason"]
    assert "retry 1/1 in" in row["reason"]
    assert fleet.status()["good"]["phase"] == "Running"
    assert fleet.plan().actions == ()  # backing off: nothing is retried before its time

    def failed() -> bool:
        fleet.reconcile(check=False)
        return fleet.state("bad")["phase"] == "Failed"

    retry_until(failed, seconds=20, interval=0.5, message="bad to fail after its retry")
    state = fleet.state("bad")
    assert state["errors"] == 2
    assert state["reason"] == (
        "create-worktree: git worktree: fatal: not a valid object name: 'no-such-base' "
        "(gave up after 2 failed tries)"
    )
    assert fleet.plan().actions == ()  # and it stays so
    assert fleet.status()["bad"]["phase"] == "Failed"

    # Fixing the spec starts it afresh.
    fleet.workers({"bad": {"base": "main"}, "good": {}})
    fleet.reconcile()
    assert fleet.status()["bad"]["phase"] == "Running"


def test_a_hung_git_call_is_that_workers_error_not_the_passs(fleet: Fleet) -> None:
    fleet.write(
        "config/orch.yaml",
        f"tmux:\n  socket: {fleet.socket}\n  session: orch\ntimeouts:\n  git: 1s\n",
    )
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    slow = {
        "GIT_PYTHON_GIT_EXECUTABLE": str(fleet.agents_dir / "watch" / "slow_git.sh"),
        "REAL_GIT": shutil.which("git") or "git",
        "SLOW_GIT_MATCH": "/app/w1",
        "SLOW_GIT_SECONDS": "30",
    }
    started = time.monotonic()
    done = fleet.cli("reconcile", "--json", env=slow)
    took = time.monotonic() - started
    assert done.returncode == 1  # one action failed
    assert took < 15, took  # the hung call was cut after 1 s, not waited out for 30 s
    assert "timed out after 1s" in done.stdout
    status = fleet.status()
    assert status["w2"]["phase"] == "Running"  # the pass went on with the others
    assert status["w1"]["phase"] == "Backoff"
    assert "timed out after 1s" in status["w1"]["reason"]
    # A timeout is transient: retried after 1 s, not after the 10 s of backoff.initial.
    assert "in 1s" in status["w1"]["reason"]
    assert os.environ.get("GIT_PYTHON_GIT_EXECUTABLE") is None
