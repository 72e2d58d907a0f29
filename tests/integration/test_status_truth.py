"""`orch status` tells the truth, and `orch approve-prune` (real tmux, real git, the real CLI).

Invalid specs still show the fleet (the last valid state, else what is
observed) with the first error; status says whether a reconciler runs; a
removal held by the mass-prune guard is Blocked with the command that
approves it; restart history outlives a stage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from reconciler.loop.prune_approval import APPROVAL_FILE

Retry = Callable[..., Any]
THREE = ("w1", "w2", "w3")
BROKEN = "kind: Worker\nmetadata: {name: [\n"


def status_json(fleet: Any) -> tuple[int, dict[str, Any]]:
    done = fleet.cli("status", "--json")
    return done.returncode, json.loads(done.stdout)


def test_status_with_invalid_specs_shows_the_last_valid_state_and_the_first_error(
    fleet: Any,
) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    assert fleet.cli("reconcile").returncode == 0  # remembers the valid specs
    fleet.write("specs/workers.yaml", BROKEN)

    done = fleet.cli("status")
    assert done.returncode == 4, done  # shown, but the specs are invalid
    lines = done.stdout.splitlines()
    assert lines[0].startswith("specs invalid: specs/workers.yaml:"), lines
    assert "showing the last valid specs" in lines[1]
    row = next(line for line in lines if line.startswith("w1 "))
    assert "Running" in row and "work (1/1)" in row

    code, data = status_json(fleet)
    assert code == 4
    assert data["source"] == "last-valid"
    assert data["specsError"]["first"].startswith("specs/workers.yaml:")
    assert [(r["name"], r["phase"]) for r in data["workers"]] == [("w1", "Running")]

    # Nothing remembered: what is observed, from the state file and the window.
    (fleet.root / "state" / "desired.json").unlink()
    code, data = status_json(fleet)
    assert code == 4
    assert data["source"] == "observed"
    assert [(r["name"], r["phase"], r["stage"]) for r in data["workers"]] == [
        ("w1", "Running", "work")
    ]
    assert data["workers"][0]["window"] == f"{fleet.session}:{fleet.window('w1')['window_index']}"
    done = fleet.cli("status")
    assert "showing what is observed" in done.stdout
    assert sorted(fleet.owned()) == ["w1"]  # nothing was touched


def test_status_says_whether_a_reconciler_runs(
    fleet: Any, watch_thread: Callable[[], Any], retry_until: Retry
) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    code, data = status_json(fleet)
    assert code == 0
    assert data["reconciler"]["running"] is False
    assert data["reconciler"]["lastPass"] is None
    assert "reconciler: none running (no pass yet)" in fleet.cli("status").stdout

    watcher = watch_thread()

    def running() -> dict[str, Any] | None:
        info = status_json(fleet)[1]["reconciler"]
        return info if info["running"] and info["lastPass"] else None

    info = retry_until(running, seconds=20, message="status to see the watcher")
    assert info["watch"] is True
    assert info["pid"] == os.getpid()  # the watcher runs in this test's process
    assert info["since"] and info["lastPassAgo"] is not None
    line = next(x for x in fleet.cli("status").stdout.splitlines() if x.startswith("reconciler:"))
    assert f"orch reconcile --watch, pid {os.getpid()}" in line and "last pass" in line
    watcher.close()

    code, data = status_json(fleet)
    assert data["reconciler"]["running"] is False
    assert data["reconciler"]["lastPass"] is not None  # when the last pass was stays known
    assert [r["phase"] for r in data["workers"]] == ["Running"]


def test_blocked_prune_is_blocked_and_approve_prune_without_a_watcher(fleet: Any) -> None:
    fleet.base("sleep.sh")
    fleet.workers(THREE)
    fleet.reconcile()
    fleet.workers(["w1"])

    _, data = status_json(fleet)
    phases = {r["name"]: (r["phase"], r["reason"]) for r in data["workers"]}
    assert phases["w1"][0] == "Running"
    for name in ("w2", "w3"):
        assert phases[name][0] == "Blocked", phases
        assert "removing 2 of 3 workers needs `orch approve-prune`" in phases[name][1]

    done = fleet.cli("approve-prune", "--json")
    assert done.returncode == 0, done
    approved = json.loads(done.stdout)
    assert (approved["approved"], approved["count"], approved["total"]) == (["w2", "w3"], 2, 3)
    assert {a["worker"] for a in approved["actions"]} == {"w2", "w3"}
    assert "the next `orch reconcile` applies it" in approved["lines"][0]
    assert sorted(fleet.owned()) == list(THREE)  # approved, not applied yet

    done = fleet.cli("reconcile")
    assert done.returncode == 0, done
    assert sorted(fleet.owned()) == ["w1"]
    assert not fleet.worktree("w2").exists() and not fleet.worktree("w3").exists()
    # Once: the approval is gone with the workers it named.
    assert not (fleet.root / "state" / APPROVAL_FILE).exists()

    done = fleet.cli("approve-prune")
    assert done.returncode == 1, done
    assert "nothing to approve" in done.stderr


def test_approve_prune_through_a_running_watcher(
    fleet: Any, watch_thread: Callable[[], Any], retry_until: Retry
) -> None:
    fleet.base("sleep.sh")
    fleet.workers(THREE)
    fleet.reconcile()
    watcher = watch_thread()
    fleet.workers(["w1"])

    # The watcher counts workers, as `orch plan` does (not actions: w2 and w3 have 1 each here).
    note = "blocked by the mass-prune guard: removing 2 of 3 workers"
    retry_until(lambda: watcher.notices(note), seconds=20, message="the watcher's warning")
    assert note in fleet.cli("plan").stdout
    assert sorted(fleet.owned()) == list(THREE)

    done = fleet.cli("approve-prune")
    assert done.returncode == 0, done
    assert "approving the removal of 2 of 3 workers: w2, w3" in done.stdout
    assert "the watcher applies it now" in done.stdout
    retry_until(lambda: sorted(fleet.owned()) == ["w1"], seconds=30, message="w2, w3 removed")
    retry_until(lambda: not (fleet.root / "state" / APPROVAL_FILE).exists(), seconds=30,
                message="the approval used up")  # fmt: skip


def test_restart_history_stays_visible_after_a_stage_advances(fleet: Any) -> None:
    fleet.base("sleep.sh", stages=[fleet.stage("plan"), fleet.stage("build")])
    fleet.workers(["w1"])
    fleet.reconcile()
    done = fleet.cli("restart", "w1")
    assert done.returncode == 0, done
    (fleet.worktree("w1") / ".orch" / "signals" / "plan.done").write_text("")
    fleet.reconcile()

    _, data = status_json(fleet)
    row = data["workers"][0]
    assert (row["stage"], row["restarts"], row["restartsTotal"]) == ("build", 0, 1)
    line = next(x for x in fleet.cli("status").stdout.splitlines() if x.startswith("w1 "))
    assert "0 (1 total)" in line
