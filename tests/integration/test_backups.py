"""`orch backups`: find the refs teardowns wrote, see what each holds, restore one.

Real workers are torn down (real git, real tmux), then the real `orch` CLI lists
and restores their backups.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)


def commit(fleet: Fleet, worktree: Path, name: str, text: str) -> None:
    """A commit of one new file, as an agent makes it."""
    (worktree / name).write_text(text)
    fleet.git(worktree, "add", name)
    fleet.git(worktree, "commit", "-q", "-m", f"add {name}")


@pytest.fixture
def torn_down(fleet: Fleet) -> tuple[Fleet, list[Any]]:
    """w1 torn down holding 2 commits, a changed file and an untracked one; w2 clean."""
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2", "w3"])
    fleet.reconcile()
    wt = fleet.worktree("w1")
    commit(fleet, wt, "a.txt", "a\n")
    commit(fleet, wt, "b.txt", "b\n")
    (wt / "README.md").write_text("changed\n")
    (wt / "new.txt").write_text("untracked\n")
    fleet.workers(["w3"])
    events = list(fleet.reconcile(allow_mass_prune=True).events)
    return fleet, events


def test_the_teardown_event_names_the_backup_ref(torn_down: tuple[Fleet, list[Any]]) -> None:
    fleet, events = torn_down
    removed = {e.worker: e for e in events if e.verb == "remove-worktree"}
    refs = fleet.git(fleet.repo, "for-each-ref", "--format=%(refname)", "refs/orch/backups/")
    assert sorted(e.detail["backup"] for e in removed.values()) == sorted(refs.stdout.split())
    logged = [json.loads(line) for line in (fleet.root / "state/events.jsonl").open()]
    assert any(e.get("detail", {}).get("backup", "").startswith("refs/orch/backups/w1/")
               for e in logged if e["verb"] == "remove-worktree")  # fmt: skip


def test_backups_lists_time_worker_and_what_each_holds(
    torn_down: tuple[Fleet, list[Any]],
) -> None:
    fleet, _ = torn_down
    done = fleet.cli("backups", "--json")
    assert done.returncode == 0, done
    items = {b["worker"]: b for b in json.loads(done.stdout)["backups"]}
    assert set(items) == {"w1", "w2"}
    w1, w2 = items["w1"], items["w2"]
    assert w1["commits"] == 2 and w1["commitsOnNoBranch"] == 0  # they are on orch/w1
    assert w1["changed"] == ["README.md"] and w1["untracked"] == ["new.txt"]
    assert w2["commits"] == 0 and w2["changed"] == [] and w2["untracked"] == []
    assert w1["time"].endswith("Z") and w1["ref"].startswith("refs/orch/backups/w1/")

    table = fleet.cli("backups")
    assert table.returncode == 0, table
    line = next(x for x in table.stdout.splitlines() if " w1 " in f" {x} ")
    assert "2 commits, 1 changed, 1 untracked" in line

    one = json.loads(fleet.cli("backups", "w2", "--json").stdout)["backups"]
    assert [b["worker"] for b in one] == ["w2"]


def test_restore_makes_a_new_branch_holding_the_work(
    torn_down: tuple[Fleet, list[Any]],
) -> None:
    fleet, _ = torn_down
    [ref] = fleet.git(fleet.repo, "for-each-ref", "--format=%(refname)",
                      "refs/orch/backups/w1/").stdout.split()  # fmt: skip
    short = ref.removeprefix("refs/orch/backups/")

    done = fleet.cli("backups", "restore", short)
    assert done.returncode == 0, done
    branch = f"restored/w1-{short.split('/')[1]}"
    assert f"branch {branch} " in done.stdout
    files = fleet.git(fleet.repo, "ls-tree", "-r", "--name-only", branch).stdout.split()
    assert {"a.txt", "b.txt", "new.txt", "README.md"} <= set(files)
    readme = fleet.git(fleet.repo, "show", f"{branch}:README.md").stdout
    assert readme == "changed\n"

    again = fleet.cli("backups", "restore", short)  # never the same branch twice
    assert again.returncode == 0, again
    assert f"branch {branch}-2 " in again.stdout

    before = fleet.git(fleet.repo, "rev-parse", "main").stdout
    taken = fleet.cli("backups", "restore", ref, "--to", "main")
    assert taken.returncode == 1 and "exists" in taken.stderr
    assert fleet.git(fleet.repo, "rev-parse", "main").stdout == before

    named = fleet.cli("backups", "restore", ref, "--to", "rescue")
    assert named.returncode == 0, named
    assert fleet.git(fleet.repo, "rev-parse", "rescue").stdout.strip() == \
        fleet.git(fleet.repo, "rev-parse", ref).stdout.strip()  # fmt: skip


def test_an_unknown_ref_exits_1_with_the_list(torn_down: tuple[Fleet, list[Any]]) -> None:
    fleet, _ = torn_down
    done = fleet.cli("backups", "restore", "w9/20200101T000000Z")
    assert done.returncode == 1
    assert "is not a backup" in done.stderr
    assert "app:w1/" in done.stderr and "app:w2/" in done.stderr
    assert "restored/" not in fleet.git(fleet.repo, "branch", "--list").stdout


def test_commits_only_the_reflog_knew_count_as_on_no_branch(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    fleet.reconcile()
    wt = fleet.worktree("w1")
    fleet.git(wt, "checkout", "-q", "--detach")
    commit(fleet, wt, "lost.txt", "only the reflog knows me\n")
    fleet.git(wt, "checkout", "-q", "orch/w1")
    fleet.workers(["w2"])
    fleet.reconcile(allow_mass_prune=True)

    [w1] = json.loads(fleet.cli("backups", "w1", "--json").stdout)["backups"]
    assert w1["commitsOnNoBranch"] == 1 and len(w1["reflogCommits"]) == 1
    assert "(1 on no branch)" in fleet.cli("backups", "w1").stdout


def test_the_report_names_recent_backups(torn_down: tuple[Fleet, list[Any]]) -> None:
    fleet, events = torn_down
    done = fleet.cli("report")
    assert done.returncode == 0, done
    text = (fleet.root / "reports" / "status.md").read_text()
    assert "## Recent backups" in text
    for e in events:
        if e.verb == "remove-worktree":
            assert f"`{e.worker}` `{e.detail['backup']}`" in text


def test_no_backups_and_a_restore_without_ref(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers([])
    done = fleet.cli("backups")
    assert done.returncode == 0 and done.stdout.strip() == "no backups", done
    missing = fleet.cli("backups", "restore")
    assert missing.returncode == 1 and "name the backup" in missing.stderr, missing


def test_backups_are_listed_and_restored_while_the_specs_are_invalid(
    torn_down: tuple[Fleet, list[Any]],
) -> None:
    fleet, _ = torn_down
    assert fleet.cli("reconcile").returncode == 0  # a reconcile remembers the valid specs
    fleet.write("specs/workers.yaml", "kind: Worker\n  broken: [\n")
    done = fleet.cli("backups", "--json")
    assert done.returncode == 0, done
    assert "specs invalid (specs/workers.yaml:" in done.stderr
    assert {b["worker"] for b in json.loads(done.stdout)["backups"]} == {"w1", "w2"}
    [item] = [b for b in json.loads(done.stdout)["backups"] if b["worker"] == "w1"]
    restored = fleet.cli("backups", "restore", item["ref"], "--to", "rescue")
    assert restored.returncode == 0, restored
    assert fleet.git(fleet.repo, "rev-parse", "rescue").stdout.strip() == item["commit"]
