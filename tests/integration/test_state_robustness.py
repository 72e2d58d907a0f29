"""state/ that is malformed gives one clear line; plan and status write nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` but .git/ and the agents' run logs (tmux writes them as the
    agents print), with its size and mtime (ns)."""
    out = {}
    for path in root.rglob("*"):
        if ".git" in path.relative_to(root).parts or not path.is_file():
            continue
        if path.suffix == ".log" and "logs" in path.relative_to(root).parts:
            continue
        st = path.stat()
        out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def running(fleet: Fleet) -> Fleet:
    fleet.base("chatty.sh")
    fleet.workers(["w1", "w2"])
    fleet.reconcile()
    return fleet


def test_plan_and_status_write_nothing(running: Fleet) -> None:
    before = tree(running.root)
    for args in (("plan",), ("plan", "--json"), ("status",), ("status", "--json")):
        done = running.cli(*args)
        assert done.returncode in (0, 2), done
    assert tree(running.root) == before


def workers_is_a_file(state: Path) -> None:
    (state / "workers").rename(state / "workers.d")
    (state / "workers").write_text("x")


def lock_is_a_folder(state: Path) -> None:
    (state / ".lock").unlink()
    (state / ".lock").mkdir()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (workers_is_a_file, "should be a folder but is a file"),
        (lock_is_a_folder, "cannot open the lock"),
    ],
    ids=["workers-is-a-file", "lock-is-a-folder"],
)
def test_a_malformed_state_folder_is_one_clear_line_and_exit_1(
    running: Fleet, make: Any, words: str
) -> None:
    make(running.root / "state")
    done = running.cli("reconcile")
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], done.stderr
    assert "internal error" not in done.stderr


def test_a_non_utf8_line_in_events_is_skipped(running: Fleet) -> None:
    with (running.root / "state" / "events.jsonl").open("ab") as fh:
        fh.write(b'\xff\xfe{"torn\n')
    done = running.cli("report")
    assert done.returncode == 0, done
    done = running.cli("reconcile")
    assert done.returncode == 0, done


def test_a_corrupt_state_file_is_moved_aside_with_an_event(running: Fleet) -> None:
    state = running.root / "state" / "workers" / "w1.json"
    state.write_text("{not json")
    done = running.cli("status")
    assert done.returncode == 0
    assert "w1.json is unreadable" in done.stderr  # said, not silently ignored...
    assert state.read_text() == "{not json"  # ...and status moved nothing

    result = running.reconcile(check=False)
    [event] = [e for e in result.events if e.verb == "state-corrupt"]
    assert event.worker == "w1" and "moved aside" in event.reason
    aside = list(state.parent.glob("w1.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{not json"
    logged = (running.root / "state" / "events.jsonl").read_text()
    assert "state-corrupt" in logged
    # the worker was observed again from tmux and its worktree: nothing restarted twice
    assert running.status()["w1"]["phase"] == "Running"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder; needs a normal user")
def test_an_unreadable_worktree_fails_that_worker_while_the_others_go_on(running: Fleet) -> None:
    wt = running.worktree("w1")
    wt.chmod(0)
    try:
        done = running.cli("status", "--json")
        assert done.returncode == 0, done
        rows = {r["name"]: r for r in json.loads(done.stdout)["workers"]}
        assert rows["w1"]["phase"] == "Failed" and "cannot read" in rows["w1"]["reason"]
        assert rows["w2"]["phase"] == "Running"
        done = running.cli("reconcile")
        assert done.returncode == 0, done
    finally:
        wt.chmod(0o755)
