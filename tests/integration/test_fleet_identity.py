"""Fleet identity: two control repos with default config share one tmux socket in peace."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.drivers.git import init_repo

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)


def _default_config(fleet: Fleet) -> None:
    # No tmux.session: each fleet gets its own session, named after the fleet.
    fleet.write("config/orch.yaml", f"tmux:\n  socket: {fleet.socket}\n")


def _pids(fleet: Fleet, session: str) -> dict[str, str]:
    return {
        w["@orch-worker"]: w["pane_pid"]
        for w in fleet.windows()
        if w["session_name"] == session and w["@orch-worker"] and w["pane_dead"] == "0"
    }


def test_two_fleets_on_one_socket_never_see_stop_or_count_each_other(
    fleet_factory: Callable[[str], Fleet], tmp_path: Path
) -> None:
    alpha, beta = fleet_factory("alpha"), fleet_factory("beta")
    beta.repo = tmp_path / "repo-beta"  # the same worker names, in a repo of its own
    init_repo(beta.repo)
    for f in (alpha, beta):
        _default_config(f)
        f.base("sleep.sh")
        f.workers(["w1", "w2"])
    sessions = {f.root.name: f.load().config.tmux_session for f in (alpha, beta)}
    assert sessions["alpha"] != sessions["beta"]
    assert sessions["alpha"].startswith("alpha-") and sessions["beta"].startswith("beta-")

    alpha.reconcile()
    beta.reconcile()
    before_beta = _pids(beta, sessions["beta"])
    assert sorted(before_beta) == ["w1", "w2"]
    assert sorted(_pids(alpha, sessions["alpha"])) == ["w1", "w2"]

    # alpha drops w2; its pass stops only its own w2.
    alpha.workers(["w1"])
    alpha.reconcile()
    assert sorted(_pids(alpha, sessions["alpha"])) == ["w1"]
    assert _pids(beta, sessions["beta"]) == before_beta

    # beta sees nothing to do, and counts only its own two workers for the prune guard.
    plan = beta.plan()
    assert plan.actions == () and plan.blocked == ()
    beta.workers(["w1", "w2", "w3"])
    beta.reconcile()
    assert sorted(_pids(beta, sessions["beta"])) == ["w1", "w2", "w3"]
    assert sorted(alpha.status()) == ["w1"]
    assert beta.plan().prune_total == 3  # its own three, none of alpha's
    beta.workers([])  # removing all three of its own is a mass prune of 3 of 3, not of 4
    assert (beta.plan().prune_count, beta.plan().prune_total) == (3, 3)

    # alpha's status lists beta's windows as foreign, and never as its own workers.
    done = alpha.cli("status", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [r["name"] for r in data["workers"]] == ["w1"]
    foreign = {(w["session"], w["worker"]) for w in data["foreign"]}
    assert {(sessions["beta"], n) for n in ("w1", "w2", "w3")} <= foreign
    text = alpha.cli("status").stdout
    assert "foreign" in text and sessions["beta"] in text


def test_a_copied_control_repo_does_not_adopt_the_original_workers(
    fleet_factory: Callable[[str], Fleet],
) -> None:
    import shutil

    original = fleet_factory("original")
    _default_config(original)
    original.base("sleep.sh")
    original.workers(["w1"])
    original.reconcile()
    pid = _pids(original, original.load().config.tmux_session)["w1"]

    copy_root = original.root.parent / "copy"
    shutil.copytree(original.root, copy_root, symlinks=True)
    copy = type(original)(root=copy_root, repo=original.repo, socket=original.socket,
                          tmp=original.tmp)
    copy.workers([])  # the copy wants no workers: it must not tear down the original's
    result = copy.reconcile()
    assert [e for e in result.events if e.worker == "w1"] == []
    assert _pids(original, original.load().config.tmux_session)["w1"] == pid
