"""The fleet commands through the real `orch` CLI in a subprocess, on a private tmux socket.

``fleet.cli(...)`` runs ``orch --root <ctl> ...`` with ``ORCH_TMUX_SOCKET`` set and
asserts that no traceback is ever printed, on success or error. Passes that only set
a scene up run in-process (``fleet.reconcile()``); the command under test goes through
the CLI.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
Retry = Callable[..., object]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def event_line(worker: str, verb: str, reason: str) -> re.Pattern[str]:
    """An event line of `orch reconcile`: ``HH:MM:SS worker verb[ stage#n]: reason ...``."""
    return re.compile(
        rf"^\d\d:\d\d:\d\d {re.escape(worker)} {re.escape(verb)}"
        rf"(?: \S+)?: {re.escape(reason)}(?: |$)",
        re.MULTILINE,
    )


ROW_KEYS = {
    "name",
    "phase",
    "stage",
    "attempt",
    "restarts",
    "lastActivity",
    "branch",
    "worktree",
    "window",
    "reason",
}


def test_plan_exits_2_with_changes_then_0_after_reconcile(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])

    done = fleet.cli("plan")
    assert done.returncode == 2, done
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ensure-session ")
    for name in ("w1", "w2"):
        assert f"create-worktree {name}: new worker: branch orch/{name} from main" in lines
        assert f"start-agent {name} (work #1): new worker" in lines
    assert fleet.windows() == []  # plan changes nothing
    assert not (fleet.root / "state" / "workers").exists()

    assert fleet.cli("reconcile").returncode == 0
    done = fleet.cli("plan")
    assert done.returncode == 0, done
    assert "no changes" in done.stdout


def test_plan_json_lists_actions_with_verb_worker_reason(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])

    done = fleet.cli("plan", "--json")

    assert done.returncode == 2, done
    data = json.loads(done.stdout)
    actions = data["actions"]
    assert isinstance(actions, list)
    assert all({"verb", "worker", "reason"} <= set(a) for a in actions)
    assert [(a["verb"], a["worker"]) for a in actions] == [
        ("ensure-session", ""),
        ("create-worktree", "w1"),
        ("start-agent", "w1"),
        ("create-worktree", "w2"),
        ("start-agent", "w2"),
    ]
    assert all(a["reason"] for a in actions)
    assert data["blocked"] == []

    fleet.reconcile()
    done = fleet.cli("plan", "--json")
    assert done.returncode == 0, done
    assert json.loads(done.stdout)["actions"] == []


def test_reconcile_prints_one_line_per_action_with_its_reason(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    actions = json.loads(fleet.cli("plan", "--json").stdout)["actions"]

    done = fleet.cli("reconcile")

    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert len(lines) == len(actions)
    for line, action in zip(lines, actions, strict=True):
        wanted = event_line(action["worker"] or "-", action["verb"], action["reason"])
        assert wanted.search(line), (line, action)
    assert done.stderr == ""

    done = fleet.cli("reconcile")
    assert done.returncode == 0, done
    assert done.stdout.strip() == "nothing to do: the fleet matches the specs"


def test_status_json_rows(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])

    before = json.loads(fleet.cli("status", "--json").stdout)
    # No reconciler ran: what is observed (nothing started), not what a pass would do.
    assert [(r["name"], r["phase"], r["window"], r["lastActivity"]) for r in before["workers"]] == [
        ("w1", "Pending", None, None),
        ("w2", "Pending", None, None),
    ]
    assert all(r["reason"].startswith("not started: no reconciler running") and r["attempt"] == 0
               for r in before["workers"])  # fmt: skip
    assert before["reconciler"]["running"] is False
    fleet.reconcile()

    done = fleet.cli("status", "--json")

    assert done.returncode == 0, done
    data = json.loads(done.stdout)
    assert isinstance(data["workers"], list)
    rows = {r["name"]: r for r in data["workers"]}
    assert sorted(rows) == ["w1", "w2"]
    owned = fleet.owned()
    for name, row in rows.items():
        assert set(row) >= ROW_KEYS, row
        assert row["phase"] == "Running"
        assert row["stage"] == "work"
        assert (row["attempt"], row["restarts"]) == (1, 0)
        assert row["branch"] == f"orch/{name}"
        assert Path(row["worktree"]).is_absolute()
        assert row["worktree"] == str(fleet.worktree(name))
        assert row["window"] == f"orch:{owned[name]['window_index']}"
        assert isinstance(row["reason"], str)
        assert row["reason"]
        assert row["lastActivity"] is None or ISO_UTC.match(row["lastActivity"]), row


def test_status_table_has_a_row_per_worker(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("sleep.sh")
    fleet.workers([])
    done = fleet.cli("status")
    assert done.returncode == 0, done
    assert done.stdout.splitlines()[-1] == "no workers"

    fleet.workers(["w1", "w2", "w3"])
    fleet.reconcile()
    # wait for some log output, so the ACTIVITY column shows an age
    log = fleet.logs("w3") / "work-1.log"
    retry_until(lambda: log.exists() and "sleep agent" in log.read_text(), message="w3 output")

    done = fleet.cli("status")

    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
    assert lines[header].split()[:5] == ["NAME", "PHASE", "STAGE", "ATTEMPT", "RESTARTS"]
    rows = {line.split()[0]: line for line in lines[header + 1 :] if line.strip()}
    assert sorted(rows) == ["w1", "w2", "w3"]
    for name, line in rows.items():
        assert "Running" in line
        assert f"orch/{name}" in line
        assert "work (1/1)" in line
    assert " ago " in rows["w3"]


def test_logs_prints_the_last_lines_of_the_agent_output(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("chatty.sh", env={"CHATTY_LINES": "12"})
    fleet.workers(["w1"])
    fleet.reconcile()
    log = fleet.logs("w1") / "work-1.log"
    retry_until(lambda: log.exists() and "chatty done" in log.read_text(), message="output")

    done = fleet.cli("logs", "w1", "-n", "5")

    assert done.returncode == 0, done
    assert [line.strip() for line in done.stdout.splitlines()] == [
        "line 9",
        "line 10",
        "line 11",
        "line 12",
        "chatty done",
    ]

    done = fleet.cli("logs", "nosuch")
    assert done.returncode == 1, done
    assert 'no log for worker "nosuch"' in done.stderr


def test_attach_off_a_terminal_prints_the_command(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    fleet.reconcile()
    window = fleet.window("w1")
    assert window is not None

    done = fleet.cli("attach", "w1")

    assert done.returncode == 0, done
    assert done.stdout.strip() == (
        f"tmux -L {fleet.socket} attach-session -t orch ';' select-window -t {window['window_id']}"
    )
    done = fleet.cli("attach")
    assert done.returncode == 0, done
    assert done.stdout.strip() == f"tmux -L {fleet.socket} attach-session -t orch"

    done = fleet.cli("attach", "nosuch")
    assert done.returncode == 1, done
    assert 'worker "nosuch" has no window' in done.stderr


def test_cleanup_removes_a_worker_and_saves_its_work(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2", "w3"])
    fleet.reconcile()
    (fleet.worktree("w1") / "notes.txt").write_text("unsaved notes\n")
    (fleet.worktree("w1") / "README.md").write_text("edited\n")

    done = fleet.cli("cleanup", "w1", "--yes")

    assert done.returncode == 0, done
    assert "note: still in specs, recreated by the next reconcile: w1" in done.stdout
    backup = re.search(r"backup=(refs/orch/backups/w1/\S+)", done.stdout)
    assert backup, done.stdout
    ref = backup.group(1)
    assert fleet.git(fleet.repo, "show", f"{ref}:notes.txt").stdout == "unsaved notes\n"
    assert fleet.git(fleet.repo, "show", f"{ref}:README.md").stdout == "edited\n"
    assert not fleet.worktree("w1").exists()
    assert fleet.window("w1") is None
    assert fleet.git(fleet.repo, "rev-parse", "--verify", "orch/w1").returncode == 0
    assert sorted(fleet.owned()) == ["w2", "w3"]

    # without --yes (and no terminal) nothing happens; a clean worker's backup is its HEAD
    done = fleet.cli("cleanup", "w2")
    assert done.returncode == 1, done
    assert fleet.window("w2") is not None
    done = fleet.cli("cleanup", "w2", "-y")
    assert done.returncode == 0, done
    clean = re.search(r"backup=(refs/orch/backups/w2/\S+)", done.stdout)
    assert clean, done.stdout
    tip = fleet.git(fleet.repo, "rev-parse", "orch/w2").stdout
    assert fleet.git(fleet.repo, "rev-parse", clean.group(1)).stdout == tip
    refs = fleet.git(fleet.repo, "for-each-ref", "--format=%(refname)", "refs/orch/backups/")
    assert refs.stdout.split() == [ref, clean.group(1)]

    done = fleet.cli("cleanup")
    assert done.returncode == 1, done
    assert "name the workers to clean up, or pass --all" in done.stderr
    done = fleet.cli("cleanup", "nosuch", "--yes")
    assert done.returncode == 1, done
    assert "not a worker orch runs: nosuch" in done.stderr
    assert sorted(fleet.owned()) == ["w3"]

    # still in the specs: the next reconcile starts them again on their kept branches
    fleet.reconcile()
    assert sorted(fleet.owned()) == ["w1", "w2", "w3"]
    assert fleet.worktrees()[str(fleet.worktree("w1"))] == "orch/w1"


def test_restart_starts_a_new_attempt_with_a_restart_prompt(
    fleet: Fleet, retry_until: Retry
) -> None:
    fleet.base("record_prompt.sh")
    fleet.workers({"w1": {"vars": {"topic": "tidy up"}}})
    done = fleet.cli("restart", "w1")
    assert done.returncode == 1, done
    assert 'worker "w1" has not started yet' in done.stderr

    fleet.reconcile()
    first = retry_until(fleet.received("w1", "work", 1), message="attempt 1 prompt")
    assert "resuming" not in first  # type: ignore[operator]
    (fleet.worktree("w1") / ".orch" / "progress.md").write_text("- read the code\n")
    old = fleet.window("w1")

    done = fleet.cli("restart", "w1")

    assert done.returncode == 0, done
    assert event_line("w1", "start-agent", "restart requested").search(done.stdout), done
    window = fleet.window("w1")
    assert window is not None
    assert window["window_id"] == old["window_id"]  # type: ignore[index]
    assert window["pane_pid"] != old["pane_pid"]  # type: ignore[index]
    assert window["@orch-attempt"] == "2"
    state = fleet.state("w1")
    assert (state["attempt"], state["restarts"], state["phase"]) == (2, 0, "Running")
    prompt = (fleet.logs("w1") / "work-2.prompt.md").read_text()
    assert "resuming" in prompt
    assert "restart requested" in prompt
    assert "read the code" in prompt  # the progress notes travel with the restart
    assert "var topic = tidy up" in prompt  # and so does the stage's own task
    received = retry_until(fleet.received("w1", "work", 2), message="attempt 2 prompt")
    assert received == prompt
    assert fleet.cli("plan").returncode == 0

    for args, message in (
        (["restart", "nosuch"], 'no worker "nosuch" in the specs'),
        (["restart", "w1", "--stage", "nosuch"], 'has no stage "nosuch"'),
    ):
        done = fleet.cli(*args)
        assert done.returncode == 1, done
        assert message in done.stderr


def test_error_paths_print_one_line_and_no_traceback(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    fleet.reconcile()
    fleet.write("specs/workers.yaml", "kind: Worker\nmetadata: {name: [\n")

    for args in (
        ["plan"],
        ["reconcile"],
        ["attach", "w1"],
        ["cleanup", "w1", "-y"],
        ["restart", "w1"],
        ["validate"],
    ):
        done = fleet.cli(*args)
        assert done.returncode == 1, (args, done)
        assert "specs/workers.yaml:" in done.stderr, (args, done)
        assert done.stdout == "", (args, done)
    for args in (["plan", "--json"],):  # status shows the last valid state: test_status_truth
        done = fleet.cli(*args)
        assert done.returncode == 1, (args, done)
        data = json.loads(done.stdout)
        assert data["ok"] is False
        assert data["errors"][0]["path"] == "specs/workers.yaml"
    assert sorted(fleet.owned()) == ["w1"]  # nothing was touched

    done = fleet.cli("logs")  # a usage error from the argument parser: 64, never plan's 2
    assert done.returncode == 64, done
    assert "Missing argument" in done.stderr


def test_plan_counts_a_teardown_waiting_for_its_retry_as_pending(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    fleet.reconcile()
    fleet.workers(["w1"])  # w2 removed; its teardown failed a moment ago (say)
    state = fleet.root / "state" / "workers" / "w2.json"
    data = json.loads(state.read_text())
    data.update(errors=1, error="remove-worktree: git worktree remove: fatal: busy")
    data["error_at"] = time.time()  # it failed a moment ago: the retry is due later
    state.write_text(json.dumps(data))

    done = fleet.cli("plan")
    assert done.returncode == 2, done
    assert done.stdout.startswith("pending w2: remove-worktree: git worktree remove: fatal: busy;")
    assert "no changes" not in done.stdout
    as_json = json.loads(fleet.cli("plan", "--json").stdout)
    assert [p["worker"] for p in as_json["pending"]] == ["w2"] and as_json["actions"] == []
