"""``reconcile.source: committed``: only what is committed on the current branch counts.

Real git commits in a real control repo, real tmux workers, the real `orch` CLI
and the watch loop: saved but uncommitted spec edits wait (and `orch status`
lists them as pending); a commit applies them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
WatchThread = Any  # tests/integration/conftest.py:WatchThread
Retry = Callable[..., object]
PENDING = (
    "uncommitted spec changes: specs/workers.yaml (not applied: reconcile.source is committed)"
)


def committed_fleet(fleet: Fleet, resync: str = "30s") -> Fleet:
    """A control repo with ``reconcile.source: committed``, worker w1 committed."""
    fleet.write(
        "config/orch.yaml",
        f"""\
        tmux: {{socket: {fleet.socket}, session: {fleet.session}}}
        reconcile: {{source: committed, resync: {resync}, debounce: 100ms}}
        reports: {{commit: false}}
        """,
    )
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    commit(fleet, "w1")
    return fleet


def commit(fleet: Fleet, message: str) -> None:
    fleet.git(fleet.root, "add", "-A", "specs", "config")
    fleet.git(fleet.root, "commit", "-q", "-m", message)


def test_uncommitted_edits_are_pending_until_committed(fleet: Fleet) -> None:
    committed_fleet(fleet)
    assert fleet.cli("reconcile").returncode == 0
    fleet.workers(["w1", "w2"])  # saved, not committed
    assert fleet.cli("reconcile").returncode == 0  # remembers the desired state of this HEAD
    assert fleet.window("w2") is None

    plan = fleet.cli("plan")
    assert plan.returncode == 0, plan  # nothing to do: w2 is not committed
    assert PENDING in plan.stderr
    status = fleet.cli("status")
    assert status.returncode == 0, status
    assert PENDING in status.stdout
    assert [r["name"] for r in json.loads(fleet.cli("status", "--json").stdout)["workers"]] == [
        "w1"
    ]
    as_json = json.loads(fleet.cli("status", "--json").stdout)
    assert as_json["pendingSpecs"] == ["specs/workers.yaml"]

    commit(fleet, "w2")  # the saved files did not change: only HEAD did (a cache miss)
    plan = fleet.cli("plan")
    assert plan.returncode == 2 and "create-worktree w2" in plan.stdout, plan
    assert PENDING not in fleet.cli("status").stdout


def test_worktree_source_applies_saved_files_and_shows_no_pending(fleet: Fleet) -> None:
    committed_fleet(fleet)
    fleet.write("config/orch.yaml", (fleet.root / "config/orch.yaml").read_text()
                .replace("source: committed", "source: worktree"))  # fmt: skip
    fleet.workers(["w1", "w2"])
    plan = fleet.cli("plan")
    assert plan.returncode == 2 and "create-worktree w2" in plan.stdout, plan
    assert "uncommitted spec changes" not in fleet.cli("status").stdout


def test_errors_in_committed_specs_name_the_file_and_line(fleet: Fleet) -> None:
    committed_fleet(fleet)
    good = (fleet.root / "specs/workers.yaml").read_text()
    fleet.write("specs/workers.yaml", good + "---\nkind: Worker\n")
    commit(fleet, "broken")
    fleet.write("specs/workers.yaml", good)  # fixed on disk, not committed: still broken

    plan = fleet.cli("plan")
    assert plan.returncode == 1, plan
    assert "specs/workers.yaml:" in plan.stderr and "apiVersion" in plan.stderr, plan.stderr
    assert fleet.cli("validate").returncode == 0  # validate checks the saved files


def test_a_control_repo_without_commits_is_one_line_and_exit_1(fleet: Fleet) -> None:
    committed_fleet(fleet)
    fleet.git(fleet.root, "update-ref", "-d", "HEAD")  # an unborn branch: nothing committed
    plan = fleet.cli("plan")
    assert plan.returncode == 1, plan
    assert "reconcile.source is committed" in plan.stderr and "no commit" in plan.stderr


def test_the_watcher_reacts_to_commits_not_to_saves(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    committed_fleet(fleet, resync="60s")  # only file events make passes here
    watch = watch_thread()
    retry_until(lambda: fleet.window("w1"), 20, message="w1 started")

    seen = len(watch.passes)
    fleet.workers(["w1", "w2"])  # a save: the watcher looks, and starts nothing
    retry_until(lambda: len(watch.passes) > seen, 10, message="the pass after the save")
    assert fleet.window("w2") is None

    commit(fleet, "w2")  # .git/refs changes: the specs changed
    retry_until(lambda: fleet.window("w2"), 20, message="w2 started after the commit")
    watch.close()


@pytest.mark.parametrize("value", ["committed", "worktree"])
def test_the_config_schema_takes_the_key(fleet: Fleet, value: str) -> None:
    fleet.write("config/orch.yaml", f"reconcile: {{source: {value}}}\n")
    fleet.base("sleep.sh")
    commit(fleet, "specs")
    assert fleet.cli("validate").returncode == 0
    assert fleet.load().config.source == value


def test_an_unknown_source_is_a_validation_error(fleet: Fleet) -> None:
    fleet.write("config/orch.yaml", "reconcile:\n  source: head\n")
    done = fleet.cli("validate")
    assert done.returncode == 1 and "config/orch.yaml:2:" in done.stderr, done
