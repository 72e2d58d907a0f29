"""The reconcile loop end to end: real tmux on a private socket, real git, fake agents."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.actions import Verb
from reconciler.core.errors import MassPruneBlocked, SpecErrors
from reconciler.loop.state_store import reconciler_lock

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
Retry = Callable[..., object]
SESSION = "orch"
REPO = "app"
THREE = ("w1", "w2", "w3")


def verbs(result: object) -> list[tuple[str, str]]:
    """(verb, worker) of each event of a pass."""
    return [(e.verb, e.worker) for e in result.events]  # type: ignore[attr-defined]


# -- provisioning and idempotence -------------------------------------------------


def test_reconcile_from_empty_starts_three_workers(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(THREE)

    result = fleet.reconcile()

    assert ("ensure-session", "") in verbs(result)
    owned = fleet.owned()
    assert sorted(owned) == list(THREE)
    worktrees = fleet.worktrees()
    for name in THREE:
        window = owned[name]
        assert window["session_name"] == SESSION
        assert window["@orch-stage"] == "work"
        assert window["@orch-attempt"] == "1"
        assert window["pane_dead"] == "0"
        path = fleet.worktree(name)
        assert worktrees[str(path)] == f"orch/{name}"
        assert json.loads((path / ".orch" / "owner.json").read_text())["worker"] == name
        state = fleet.state(name)
        assert state["phase"] == "Running"
        assert state["stage"] == "work"
        assert state["attempt"] == 1
        assert state["worktree"] == str(path)
        assert state["branch"] == f"orch/{name}"
    exclude = fleet.repo / ".git" / "info" / "exclude"
    assert ".orch/" in exclude.read_text().splitlines()
    # .orch/ is invisible to git in the worktrees
    assert fleet.git(fleet.worktree("w1"), "status", "--porcelain").stdout == ""


def test_second_pass_plans_nothing(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(THREE)
    fleet.reconcile()
    before = fleet.owned()

    the_plan = fleet.plan()
    assert the_plan.actions == ()
    assert the_plan.blocked == ()
    assert fleet.reconcile().events == ()
    after = fleet.owned()
    assert {n: (w["window_id"], w["pane_pid"]) for n, w in after.items()} == {
        n: (w["window_id"], w["pane_pid"]) for n, w in before.items()
    }
    assert {r["phase"] for r in fleet.status().values()} == {"Running"}


def test_window_killed_by_hand_is_restored(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("sleep.sh")
    fleet.workers(THREE)
    fleet.reconcile()
    victim = fleet.window("w2")
    assert victim is not None
    fleet.tmux("kill-window", "-t", victim["window_id"])
    assert fleet.window("w2") is None

    the_plan = fleet.plan()
    assert [(a.verb, a.worker, a.reason) for a in the_plan.actions] == [
        (Verb.START_AGENT, "w2", "window missing")
    ]
    fleet.reconcile()

    restored = fleet.window("w2")
    assert restored is not None
    assert restored["window_id"] != victim["window_id"]
    assert restored["pane_dead"] == "0"
    assert restored["@orch-attempt"] == "2"
    assert fleet.state("w2")["attempt"] == 2
    # the others were left alone
    assert fleet.plan().actions == ()
    assert sorted(fleet.owned()) == list(THREE)


def test_foreign_windows_and_worktrees_are_never_touched(fleet: Fleet, tmp_path: Path) -> None:
    fleet.base("sleep.sh")
    fleet.workers(THREE)
    fleet.reconcile()
    # a window in the fleet session without @orch-worker, named like a worker
    mine = fleet.tmux(
        "new-window", "-d", "-P", "-F", "#{window_id}", "-t", f"={SESSION}:", "-n", "w1", "sleep 60"
    ).stdout.strip()
    # another session on the same server whose window claims to be a worker
    other = fleet.tmux(
        "new-session", "-d", "-P", "-F", "#{window_id}", "-s", "mine", "-n", "w2", "sleep 60"
    ).stdout.strip()
    fleet.tmux("set-option", "-w", "-t", other, "@orch-worker", "w2")
    # worktrees made by hand: one beside the repo, one inside orch's worktrees root
    outside = tmp_path / "by-hand"
    inside = fleet.root / "worktrees" / REPO / "hand-made"
    for path, branch in ((outside, "by-hand"), (inside, "hand-made")):
        fleet.git(fleet.repo, "worktree", "add", "-q", "-b", branch, str(path), "main")
        (path / "precious.txt").write_text("mine\n")

    def foreign() -> dict[str, tuple[str, str, str]]:
        return {
            w["window_id"]: (w["session_name"], w["pane_pid"], w["pane_dead"])
            for w in fleet.windows()
            if w["window_id"] in (mine, other)
        }

    def hand_worktrees() -> dict[str, str | None]:
        return {
            p: b
            for p, b in fleet.worktrees().items()
            if p in (str(outside.resolve()), str(inside.resolve()))
        }

    foreign_before = foreign()
    assert len(foreign_before) == 2
    assert fleet.plan().actions == ()
    fleet.reconcile()

    fleet.workers([])
    the_plan = fleet.plan(allow_mass_prune=True)
    assert {a.worker for a in the_plan.actions} == set(THREE)
    fleet.reconcile(allow_mass_prune=True)

    assert fleet.owned() == {}
    assert foreign() == foreign_before
    assert hand_worktrees() == {
        str(outside.resolve()): "by-hand",
        str(inside.resolve()): "hand-made",
    }
    for path in (outside, inside):
        assert (path / "precious.txt").read_text() == "mine\n"
    for name in THREE:
        assert not fleet.worktree(name).exists()
    assert fleet.plan().actions == ()
    assert fleet.reconcile().events == ()


# -- removal saves work --------------------------------------------------------------


def test_removing_a_dirty_worker_saves_its_work_to_a_backup_ref(
    fleet: Fleet, retry_until: Retry
) -> None:
    fleet.base("commit_then_hang.sh")
    fleet.workers(THREE)
    fleet.reconcile()
    path = fleet.worktree("w3")
    retry_until(
        lambda: "fake agent" in fleet.git(fleet.repo, "log", "-1", "--format=%s", "orch/w3").stdout,
        message="w3's commit",
    )
    committed = fleet.git(fleet.repo, "rev-parse", "orch/w3").stdout.strip()
    (path / "README.md").write_text("# changed by the agent, not committed\n")
    (path / "scratch.txt").write_text("untracked work\n")
    others = {n: fleet.window(n) for n in ("w1", "w2")}

    fleet.workers(["w1", "w2"])
    result = fleet.reconcile()

    backups = [e.detail["backup"] for e in result.events if "backup" in e.detail]
    refs = fleet.git(
        fleet.repo, "for-each-ref", "--format=%(refname)", "refs/orch/backups/"
    ).stdout.split()
    assert refs == backups
    assert len(refs) == 1
    ref = refs[0]
    assert ref.startswith("refs/orch/backups/w3/")
    assert len(ref.rsplit("/", 1)[1]) == len("20260101T000000Z")
    show = fleet.git
    assert show(fleet.repo, "show", f"{ref}:README.md").stdout == (
        "# changed by the agent, not committed\n"
    )
    assert show(fleet.repo, "show", f"{ref}:scratch.txt").stdout == "untracked work\n"
    assert show(fleet.repo, "show", f"{ref}:work-w3.txt").stdout.startswith("work of w3")
    assert show(fleet.repo, "rev-parse", f"{ref}^").stdout.strip() == committed
    # orch's own files (.orch/ is excluded) are not part of the saved work
    assert show(fleet.repo, "cat-file", "-e", f"{ref}:.orch/owner.json", check=False).returncode
    # the worktree, window and state are gone; the branch and its commit are kept
    assert not path.exists()
    assert str(path) not in fleet.worktrees()
    assert fleet.git(fleet.repo, "rev-parse", "orch/w3").stdout.strip() == committed
    assert fleet.window("w3") is None
    assert not (fleet.root / "state" / "workers" / "w3.json").exists()
    assert {n: fleet.window(n) for n in ("w1", "w2")} == others
    assert "w3" not in fleet.status()
    assert fleet.plan().actions == ()


def test_removing_a_worker_stops_its_children_too(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("children.sh")
    fleet.workers(["w1", "w2"])
    fleet.reconcile()
    pids = {}
    for name in ("w1", "w2"):
        path = fleet.worktree(name) / ".orch" / "children.pids"
        retry_until(path.exists, message=f"{name}'s children")
        pids[name] = [int(x) for x in path.read_text().split()]
    try:
        fleet.workers(["w1"])
        fleet.reconcile()
        assert fleet.window("w2") is None
        assert not any(_alive(pid) for pid in pids["w2"])
        assert all(_alive(pid) for pid in pids["w1"])
    finally:
        for pid in pids["w1"] + pids["w2"]:
            if _alive(pid):
                os.kill(pid, 9)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_changing_the_branch_replaces_the_worker(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    fleet.reconcile()
    (fleet.worktree("w1") / "draft.txt").write_text("unsaved\n")

    fleet.workers({"w1": {"branch": "feature/w1"}, "w2": {}})
    the_plan = fleet.plan()  # the running agent is stopped first; the rest waits for its exit
    assert [(a.verb.value, a.worker) for a in the_plan.actions] == [("stop-agent", "w1")]
    assert the_plan.stopping == ("w1",)
    result = fleet.reconcile(check=False)
    assert [e for e in result.events if not e.ok] == []
    assert [(e.verb, e.worker) for e in result.events] == [
        ("stop-agent", "w1"),
        ("remove-worktree", "w1"),
        ("kill-window", "w1"),
        ("forget", "w1"),
        ("create-worktree", "w1"),
        ("start-agent", "w1"),
    ]

    assert fleet.worktrees()[str(fleet.worktree("w1"))] == "feature/w1"
    window = fleet.window("w1")
    assert window is not None
    assert window["pane_dead"] == "0"
    assert fleet.state("w1")["branch"] == "feature/w1"
    ref = fleet.git(fleet.repo, "for-each-ref", "--format=%(refname)", "refs/orch/backups/w1/")
    assert fleet.git(fleet.repo, "show", f"{ref.stdout.strip()}:draft.txt").stdout == "unsaved\n"
    assert fleet.git(fleet.repo, "rev-parse", "--verify", "orch/w1").returncode == 0
    assert fleet.plan().actions == ()


def test_worker_removed_after_its_state_file_was_lost_is_still_torn_down(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(THREE)
    fleet.reconcile()
    (fleet.worktree("w3") / "draft.txt").write_text("unsaved\n")
    # orch forgets what it knew (the worktrees live under state/ too, so only the state files)
    shutil.rmtree(fleet.root / "state" / "workers")
    assert fleet.plan().actions == ()  # everything is observed again

    fleet.workers(["w1", "w2"])
    the_plan = fleet.plan()
    assert [(a.verb.value, a.worker) for a in the_plan.actions] == [("stop-agent", "w3")]
    result = fleet.reconcile(check=False)
    assert [e for e in result.events if not e.ok] == []
    assert [(e.verb, e.worker) for e in result.events] == [
        ("stop-agent", "w3"),
        ("remove-worktree", "w3"),
        ("kill-window", "w3"),
        ("forget", "w3"),  # the stop wrote a state file again
    ]

    assert sorted(fleet.owned()) == ["w1", "w2"]
    assert not fleet.worktree("w3").exists()
    refs = fleet.git(fleet.repo, "for-each-ref", "--format=%(refname)", "refs/orch/backups/w3/")
    assert fleet.git(fleet.repo, "show", f"{refs.stdout.strip()}:draft.txt").stdout == "unsaved\n"
    assert fleet.plan().actions == ()


# -- a broken spec stops everything --------------------------------------------------


def test_broken_yaml_after_a_healthy_reconcile_changes_nothing(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    fleet.workers(["w3"], file="specs/more.yaml")
    fleet.reconcile()
    windows = fleet.windows()
    worktrees = fleet.worktrees()
    assert len(fleet.owned()) == 3

    # w2 is legitimately removed from one file while another file is broken
    fleet.workers(["w1"])
    fleet.write("specs/more.yaml", "apiVersion: orch/v1\nkind: Worker\nmetadata: {name: w3\n")
    with pytest.raises(SpecErrors) as err:
        fleet.load()
    assert [e.path for e in err.value.errors] == ["specs/more.yaml"]

    for args in (["reconcile"], ["reconcile", "--allow-mass-prune"], ["plan"]):
        done = fleet.cli(*args)
        assert done.returncode == 1, done
        assert "specs/more.yaml:" in done.stderr
        assert "nothing was changed" in done.stderr
    assert fleet.windows() == windows
    assert fleet.worktrees() == worktrees
    assert all(fleet.worktree(n).is_dir() for n in THREE)
    assert sorted(p.stem for p in (fleet.root / "state" / "workers").glob("*.json")) == list(THREE)


# -- pipelines -----------------------------------------------------------------------


def test_two_stage_pipeline_advances_on_signal_files(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("signal.sh", stages=[fleet.stage("plan"), fleet.stage("build")])
    fleet.workers(["w1"])
    signals = fleet.worktree("w1") / ".orch" / "signals"

    fleet.reconcile()
    assert fleet.window("w1")["@orch-stage"] == "plan"  # type: ignore[index]
    retry_until((signals / "plan.done").exists, message="plan.done")
    result = fleet.reconcile()
    starts = [e for e in result.events if e.verb == "start-agent"]
    assert [(e.worker, e.reason) for e in starts] == [("w1", "stage plan done")]
    assert fleet.window("w1")["@orch-stage"] == "build"  # type: ignore[index]
    assert (fleet.state("w1")["stage"], fleet.state("w1")["attempt"]) == ("build", 1)

    retry_until((signals / "build.done").exists, message="build.done")
    result = fleet.reconcile()
    assert ("phase Succeeded", "w1") in verbs(result)
    row = fleet.status()["w1"]
    assert row["phase"] == "Succeeded"
    assert row["reason"] == "all stages done"
    logs = fleet.logs("w1")
    retry_until(
        lambda: "signalled build" in (logs / "build-1.log").read_text(), message="build log"
    )
    assert "signalled plan" in (logs / "plan-1.log").read_text()
    assert fleet.state("w1")["phase"] == "Succeeded"
    assert fleet.plan().actions == ()
    assert fleet.reconcile().events == ()


def test_done_when_exit0_advances_on_a_clean_exit(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("exit0.sh", stages=[fleet.stage("work", done_when="exit0")])
    fleet.workers(["w1"])
    fleet.reconcile()
    row = retry_until(fleet.dead_window("w1"), message="w1 exits")
    assert row["pane_dead_status"] == "0"  # type: ignore[index]

    result = fleet.reconcile()

    assert verbs(result) == [("complete-stage", "w1"), ("phase Succeeded", "w1")]
    done = fleet.worktree("w1") / ".orch" / "signals" / "work.done"
    assert json.loads(done.read_text()) == {"summary": "agent exited 0"}
    assert fleet.status()["w1"]["phase"] == "Succeeded"
    assert fleet.plan().actions == ()


def test_crash_backs_off_restarts_then_fails(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("crash.sh")
    fleet.workers(
        {"w1": {"restartPolicy": {"maxRestarts": 1, "backoff": {"initial": "1s", "max": "2s"}}}}
    )
    fleet.reconcile()
    retry_until(fleet.dead_window("w1"), message="w1 crashes")

    fleet.reconcile()
    row = fleet.status()["w1"]
    assert row["phase"] == "Backoff"
    assert row["reason"].startswith("crashed: exit 3; ")
    assert fleet.plan().actions == ()  # waiting out the backoff

    later = time.time() + 5  # past the 1 s backoff without sleeping
    result = fleet.reconcile(clock=lambda: later)
    assert [(e.verb, Path(str(e.detail.get("log"))).name) for e in result.events] == [
        ("start-agent", "work-2.log")
    ]
    prompt = (fleet.logs("w1") / "work-2.prompt.md").read_text()
    assert "resuming" in prompt
    assert "crashed: exit 3" in prompt
    retry_until(
        lambda: (w := fleet.dead_window("w1")()) and w["@orch-attempt"] == "2",
        message="attempt 2 crashes",
    )

    fleet.reconcile()
    row = fleet.status()["w1"]
    assert row["phase"] == "Failed"
    assert row["reason"] == "crashed: exit 3 (gave up after 1 restart(s))"
    assert row["restarts"] == 1
    assert fleet.plan().actions == ()


def test_failed_signal_fails_the_worker_with_its_summary(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("fail_signal.sh", env={"FAIL_SUMMARY": "tests do not compile: missing dep"})
    fleet.workers(["w1"])
    fleet.reconcile()
    retry_until(
        (fleet.worktree("w1") / ".orch" / "signals" / "work.failed").exists, message="work.failed"
    )

    result = fleet.reconcile()

    assert ("phase Failed", "w1") in verbs(result)
    row = fleet.status()["w1"]
    assert row["phase"] == "Failed"
    assert row["reason"] == "stage work failed: tests do not compile: missing dep"
    assert fleet.state("w1")["reason"] == row["reason"]
    assert fleet.plan().actions == ()
    assert fleet.state("w1")["attempt"] == 1  # not retried


def test_vars_change_restarts_the_stage(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("record_prompt.sh")
    fleet.workers({"w1": {"vars": {"topic": "alpha"}}, "w2": {"vars": {"topic": "same"}}})
    fleet.reconcile()
    first = retry_until(fleet.received("w1", "work", 1), message="attempt 1 prompt")
    assert "var topic = alpha\n" in first  # type: ignore[operator]
    w2 = fleet.window("w2")

    fleet.workers({"w1": {"vars": {"topic": "beta"}}, "w2": {"vars": {"topic": "same"}}})
    the_plan = fleet.plan()  # the old agent stops first; the restart follows its exit
    assert [(a.verb, a.worker, a.attempt, a.reason) for a in the_plan.actions] == [
        (Verb.STOP_AGENT, "w1", 2, "spec changed: vars")
    ]
    result = fleet.reconcile()
    assert [(e.verb, e.worker, e.attempt) for e in result.events] == [
        ("stop-agent", "w1", 2),
        ("start-agent", "w1", 2),
    ]

    window = fleet.window("w1")
    assert window is not None
    assert window["@orch-attempt"] == "2"
    logs = fleet.logs("w1")
    retry_until((logs / "work-2.log").exists, message="attempt 2 log")
    prompt = (logs / "work-2.prompt.md").read_text()
    assert "var topic = beta\n" in prompt
    assert "alpha" not in prompt
    received = retry_until(fleet.received("w1", "work", 2), message="attempt 2 prompt")
    assert received == prompt
    assert fleet.state("w1")["attempt"] == 2
    assert fleet.window("w2") == w2
    assert fleet.plan().actions == ()


def test_a_broken_prompt_template_fails_the_worker_once_without_killing_it_first(
    fleet: Fleet, retry_until: Retry
) -> None:
    fleet.base("sleep.sh")
    fleet.workers({"w1": {"vars": {"topic": "alpha"}}})
    fleet.reconcile()
    before = fleet.window("w1")
    assert before is not None and before["pane_dead"] == "0"

    fleet.write("playbooks/prompts/stage.md.j2", "{{ unclosed\n")
    fleet.workers({"w1": {"vars": {"topic": "beta"}}})  # a restart is planned
    with pytest.raises(SpecErrors) as caught:  # a syntax error is the specs' error: no action
        fleet.reconcile()
    assert str(caught.value).startswith("playbooks/prompts/stage.md.j2:1:1: Pipeline/p: ")
    assert fleet.window("w1") == before
    # A template that fails only in a later attempt passes the load; its start fails.
    fleet.write("playbooks/prompts/stage.md.j2", "{% if attempt > 1 %}{{ 1 // 0 }}{% endif %}\n")
    events = fleet.reconcile(check=False, once=True).events
    # The stop before the restart checks the new start first, and fails without a signal.
    assert [(e.verb, e.ok) for e in events] == [("stop-agent", False)]
    assert fleet.window("w1") == before  # the old agent was not stopped for nothing
    assert "prompt" in (events[0].error or "")
    state = fleet.state("w1")
    assert state["phase"] == "Failed" and "orch restart w1" in state["reason"]
    # The permanent error is not retried every pass: the next plan only stops the
    # old agent, which the failed start had left untouched.
    assert [(a.verb, a.worker) for a in fleet.plan().actions] == [(Verb.STOP_AGENT, "w1")]
    fleet.reconcile()
    assert fleet.plan().actions == ()


# -- the mass-prune guard ------------------------------------------------------------


def test_mass_prune_guard(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(THREE)
    fleet.reconcile()
    fleet.workers(["w1"])

    the_plan = fleet.plan()
    assert the_plan.actions == ()
    assert {a.worker for a in the_plan.blocked} == {"w2", "w3"}
    assert (the_plan.prune_count, the_plan.prune_total) == (2, 3)
    with pytest.raises(MassPruneBlocked) as err:
        fleet.reconcile()
    assert "2 of 3" in str(err.value)
    assert sorted(fleet.owned()) == list(THREE)

    done = fleet.cli("reconcile")
    assert done.returncode == 1, done
    assert "refusing to remove 2 of 3 workers" in done.stderr
    assert "--allow-mass-prune" in done.stderr
    assert sorted(fleet.owned()) == list(THREE)

    done = fleet.cli("plan")
    assert done.returncode == 2, done
    assert "removing 2 of 3 workers needs --allow-mass-prune" in done.stdout
    blocked = [line for line in done.stdout.splitlines() if "(blocked)" in line]
    assert any("w2" in line for line in blocked)
    assert any("w3" in line for line in blocked)
    assert not any("w1" in line for line in blocked)

    done = fleet.cli("reconcile", "--allow-mass-prune")
    assert done.returncode == 0, done
    assert sorted(fleet.owned()) == ["w1"]
    assert not fleet.worktree("w2").exists()
    assert not fleet.worktree("w3").exists()
    assert fleet.cli("plan").returncode == 0


# -- one reconciler at a time --------------------------------------------------------


def test_lock_held_by_another_reconciler(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    state_dir = fleet.root / "state"
    with reconciler_lock(state_dir):
        done = fleet.cli("reconcile")
        assert done.returncode == 3, done
        assert f"locked by pid {os.getpid()} on host {socket.gethostname()} since " in done.stderr
        assert fleet.owned() == {}
        assert fleet.cli("plan").returncode == 2  # reading needs no lock
    done = fleet.cli("reconcile")
    assert done.returncode == 0, done
    assert sorted(fleet.owned()) == ["w1"]


HOLD_LOCK = """\
import sys, time
from pathlib import Path
from reconciler.loop.state_store import reconciler_lock
with reconciler_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_lock_of_a_dead_reconciler_is_taken_over(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(fleet.root / "state")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        done = fleet.cli("reconcile")
        assert done.returncode == 3, done
        assert f"locked by pid {holder.pid} on host " in done.stderr
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # the lock file still names the dead holder; flock went with it
    assert json.loads((fleet.root / "state" / ".lock").read_text())["pid"] == holder.pid
    done = fleet.cli("reconcile")
    assert done.returncode == 0, done
    assert sorted(fleet.owned()) == ["w1"]


# -- injection and validation --------------------------------------------------------


def test_values_from_specs_never_reach_a_shell(
    fleet: Fleet, tmp_path: Path, retry_until: Retry
) -> None:
    marker = tmp_path / f"pwned-{os.urandom(4).hex()}"
    shell = (
        f"$(touch {marker}-1); `touch {marker}-2`; '\"; touch {marker}-3 #"
        f" && touch {marker}-4 | touch {marker}-5 > x;"
    )
    jinja = (
        f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}-6') }}}}"
        "{{ ''.__class__.__mro__[1].__subclasses__() }}{{ 7*7 }}{% raw %}"
    )
    fleet.base(
        "record_prompt.sh", args=["{{ vars.shell }}", "{{ vars.jinja }}"], env={"PAYLOAD": shell}
    )
    fleet.workers({"w1": {"vars": {"shell": shell, "jinja": jinja}}})

    fleet.reconcile()

    received = retry_until(fleet.received("w1", "work", 1), message="the prompt")
    assert f"var jinja = {jinja}\n" in received  # type: ignore[operator]
    assert f"var shell = {shell}\n" in received  # type: ignore[operator]
    assert received == (fleet.logs("w1") / "work-1.prompt.md").read_text()
    assert fleet.received_args("w1", "work", 1) == [shell, jinja]
    assert fleet.window("w1")["pane_dead"] == "0"  # type: ignore[index]
    assert sorted(tmp_path.glob("pwned-*")) == []
    assert not (fleet.worktree("w1") / "x").exists()


def test_paths_with_shell_and_tmux_characters_are_quoted(
    fleet_factory: Callable[[str], Fleet], tmp_path: Path, retry_until: Retry
) -> None:
    marker = tmp_path / "pwned"
    fleet = fleet_factory(f"ctl $(touch {marker}) 'q\" #{{pane_id}} ;x")
    fleet.base("record_prompt.sh")
    fleet.workers(["w1"])

    fleet.reconcile()

    worktree = fleet.worktree("w1")
    received = retry_until(fleet.received("w1", "work", 1), message="the prompt")
    assert f"write {worktree}/.orch/signals/work.done" in received  # type: ignore[operator]
    log = fleet.logs("w1") / "work-1.log"
    retry_until(
        lambda: log.exists() and "recorded prompt" in log.read_text(), message="the run log"
    )
    assert not marker.exists()
    assert fleet.plan().actions == ()


BAD_WORKERS = {
    "branch with ..": {"w1": {"branch": "feature/../../escape"}},
    "branch with shell": {"w1": {"branch": "x;touch pwned"}},
    "branch with substitution": {"w1": {"branch": "$(touch pwned)"}},
    "branch starting with -": {"w1": {"branch": "--upload-pack=touch pwned"}},
    "base with shell": {"w1": {"base": "main && touch pwned"}},
    "name with shell": {"w1;touch pwned": {}},
    "name with substitution": {"$(touch pwned)": {}},
}


@pytest.mark.parametrize("workers", BAD_WORKERS.values(), ids=BAD_WORKERS.keys())
def test_unsafe_worker_fields_are_rejected(fleet: Fleet, workers: dict[str, object]) -> None:
    fleet.base("sleep.sh")
    fleet.workers(workers)  # type: ignore[arg-type]
    check_rejected(fleet, "specs/workers.yaml")


@pytest.mark.parametrize(
    "prompt", ["../../etc/passwd", "/etc/passwd", "playbooks/../../outside.md.j2"]
)
def test_prompt_outside_the_control_repo_is_rejected(fleet: Fleet, prompt: str) -> None:
    (fleet.root.parent / "outside.md.j2").write_text("outside {{ worker }}\n")
    fleet.base("sleep.sh", stages=[fleet.stage("work", prompt=prompt)])
    fleet.workers(["w1"])
    done = check_rejected(fleet, "specs/base.yaml")
    assert "resolves outside the control repo" in done.stderr


def check_rejected(fleet: Fleet, where: str) -> subprocess.CompletedProcess[str]:
    """The specs fail validation: load raises, the CLI exits 1, nothing runs."""
    with pytest.raises(SpecErrors) as err:
        fleet.load()
    assert where in {e.path for e in err.value.errors}
    for command in ("reconcile",):
        done = fleet.cli(command)
        assert done.returncode == 1, done
        assert f"{where}:" in done.stderr
    assert fleet.windows() == []
    assert list(fleet.worktrees()) == [str(fleet.repo.resolve())]
    assert not (fleet.root / "state" / "workers").exists()
    assert not list(fleet.root.parent.rglob("pwned"))
    return done


# -- setup commands ------------------------------------------------------------------


def test_setup_commands_run_in_the_workers_window_first(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("sleep.sh", setup=["echo setting up in $PWD", "printf ok > setup-marker.txt"])
    fleet.workers(["w1"])

    result = fleet.reconcile()

    # Nothing runs inline in the pass: the window runs the setup, then the agent.
    assert verbs(result) == [
        ("ensure-session", ""),
        ("create-worktree", "w1"),
        ("start-agent", "w1"),
    ]
    worktree = fleet.worktree("w1")
    retry_until((worktree / ".orch" / "setup.done").exists, message="setup done")
    assert (worktree / "setup-marker.txt").read_text() == "ok"
    log = fleet.logs("w1") / "work-1.log"
    text = retry_until(lambda: log.read_text() if "sleep agent" in log.read_text() else "")
    assert "[orch] setup: echo setting up in $PWD" in text
    assert f"setting up in {worktree}" in text
    assert text.index("setting up in") < text.index("sleep agent")  # setup first, then the agent
    assert fleet.status()["w1"]["phase"] == "Running"
    assert fleet.plan().actions == ()


def test_failing_setup_fails_the_worker_without_starting_the_agent(
    fleet: Fleet, retry_until: Retry
) -> None:
    fleet.base("sleep.sh", setup=["echo before the failure", "exit 7", "echo never"])
    fleet.workers({"w1": {"restartPolicy": {"maxRestarts": 0}}})

    fleet.reconcile()
    retry_until(fleet.dead_window("w1"), message="the setup ends the window")
    fleet.reconcile()

    state = fleet.state("w1")
    assert state["phase"] == "Failed"
    assert state["reason"] == "setup failed: setup command `exit 7` exited 7"
    log = (fleet.logs("w1") / "work-1.log").read_text()
    assert "before the failure" in log
    assert "never" not in log and "sleep agent" not in log  # neither the rest nor the agent ran
    assert fleet.window("w1")["pane_dead_status"] == "7"


def test_failing_setup_is_retried_with_backoff_then_stays_failed(
    fleet: Fleet, retry_until: Retry
) -> None:
    fleet.base("sleep.sh", setup=["exit 7"])
    fleet.workers({"w1": {"restartPolicy": {"maxRestarts": 1, "backoff": {"initial": "1s"}}}})
    fleet.reconcile()
    retry_until(fleet.dead_window("w1"), message="setup fails")
    fleet.reconcile()
    row = fleet.status()["w1"]
    assert row["phase"] == "Backoff" and "setup command `exit 7` exited 7" in row["reason"]

    def failed() -> bool:
        fleet.reconcile()
        return fleet.state("w1")["phase"] == "Failed"

    retry_until(failed, seconds=15, message="Failed after one retry")
    assert fleet.state("w1")["restarts"] == 1
    assert fleet.plan().actions == ()
    assert fleet.status()["w1"]["phase"] == "Failed"


@pytest.mark.parametrize("branch", ["feature.lock", "a//b", "trailing/", ".hidden", "end."])
def test_branch_names_git_refuses_are_rejected_by_validation(fleet: Fleet, branch: str) -> None:
    fleet.base("sleep.sh")
    fleet.workers({"w1": {"branch": branch}})
    check_rejected(fleet, "specs/workers.yaml")


# -- a new base alone ------------------------------------------------------------------


def test_a_new_base_moves_a_branch_without_commits_and_reports_one_with(fleet: Fleet) -> None:
    fleet.git(fleet.repo, "checkout", "-q", "-b", "develop")
    (fleet.repo / "develop.txt").write_text("on develop\n")
    fleet.git(fleet.repo, "add", "develop.txt")
    fleet.git(fleet.repo, "commit", "-q", "-m", "develop moves on")
    fleet.git(fleet.repo, "checkout", "-q", "main")
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    fleet.reconcile()
    pids = {n: fleet.window(n)["pane_pid"] for n in ("w1", "w2")}
    (fleet.worktree("w2") / "mine.txt").write_text("w2's own work\n")
    fleet.git(fleet.worktree("w2"), "add", "mine.txt")
    fleet.git(fleet.worktree("w2"), "commit", "-q", "-m", "w2 commits")

    fleet.workers({"w1": {"base": "develop"}, "w2": {"base": "develop"}})
    assert fleet.plan().prune_count == 0  # not a replacement: no mass-prune guard
    result = fleet.reconcile()

    assert [(e.verb, e.worker) for e in result.events] == [("move-base", "w1")]
    assert (fleet.worktree("w1") / "develop.txt").read_text() == "on develop\n"
    assert {n: fleet.window(n)["pane_pid"] for n in ("w1", "w2")} == pids  # nothing restarted
    assert fleet.state("w1")["base"] == "develop"
    row = fleet.status()["w2"]
    assert row["phase"] == "Running"
    assert "orch/w2 has 1 commit(s) of its own: not moved" in row["reason"]
    assert not (fleet.worktree("w2") / "develop.txt").exists()
    assert fleet.plan().actions == ()  # reported, not churned


def test_agent_env_reaches_the_agent_through_a_private_file_not_a_command_line(
    fleet: Fleet, retry_until: Callable[..., object]
) -> None:
    import psutil

    secret = "sk-test-0123456789-not-on-any-command-line"
    fleet.base("sleep.sh", env={"ANTHROPIC_API_KEY": secret})
    fleet.workers(["w1"])
    fleet.reconcile()
    pid = int(fleet.window("w1")["pane_pid"])  # type: ignore[index]

    def agent_env() -> dict[str, str]:
        try:
            return psutil.Process(pid).environ()
        except psutil.Error:
            return {}

    assert retry_until(agent_env).get("ANTHROPIC_API_KEY") == secret  # type: ignore[union-attr]
    for proc in psutil.process_iter(["cmdline"]):
        assert secret not in " ".join(proc.info["cmdline"] or []), proc
    start = fleet.tmux(
        "display-message", "-p", "-t", fleet.window("w1")["window_id"], "#{pane_start_command}"
    ).stdout  # type: ignore[index]
    assert secret not in start and ".env" in start
    env_file = fleet.logs("w1") / "work-1.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
