"""`orch restart|cleanup|suspend|resume` with and without a running watcher.

The watcher is :func:`reconciler.loop.watch.watch_loop` in a thread of the test
process (it holds state/.lock like `orch reconcile --watch`); the commands are
the real CLI in subprocesses, so they find the lock held by a watcher and go
through state/requests/. tmux is the test's private server, git is real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.loop.requests import Request, RequestFailed, perform
from reconciler.loop.state_store import reconciler_lock

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
WatchThread = Any  # tests/integration/conftest.py:WatchThread
Retry = Callable[..., Any]
REQUEST_ID = re.compile(r"^\d{8}T\d{9}Z-[0-9a-f]{6}$")
RESTARTED = re.compile(r"^\S+ w1 start-agent work#2: restart requested", re.MULTILINE)


def configure(fleet: Fleet) -> None:
    """config/orch.yaml: the test's tmux socket, a slow resync, a short debounce, no reports."""
    fleet.settings("resync: 30s, debounce: 100ms, maxPruneFraction: 0.5")


def alive(fleet: Fleet) -> dict[str, str]:
    """Worker -> pane pid of every live orch-owned window."""
    return {n: w["pane_pid"] for n, w in fleet.owned().items() if w["pane_dead"] == "0"}


def requests_dir(fleet: Fleet) -> Path:
    return fleet.root / "state" / "requests"


def leftovers(fleet: Fleet) -> list[str]:
    folder = requests_dir(fleet)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def watcher(watch_thread: Callable[[], WatchThread]) -> Callable[[], WatchThread]:
    """watch_loop in a thread (conftest.py's ``watch_thread``)."""
    return watch_thread


def running(fleet: Fleet, watcher: Callable[[], WatchThread], retry: Retry, *names: str) -> Any:
    """A watcher, once every one of ``names`` has a live agent."""
    watch = watcher()
    retry(lambda: sorted(alive(fleet)) == sorted(names), 20, message=f"{names} running")
    return watch


# -- restart and cleanup while the watcher runs ---------------------------------------------


def test_restart_while_the_watcher_runs(
    fleet: Fleet, watcher: Callable[[], WatchThread], retry_until: Retry
) -> None:
    configure(fleet)
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    watch = running(fleet, watcher, retry_until, "w1", "w2")
    before = alive(fleet)

    done = fleet.cli("restart", "w1")

    assert done.returncode == 0, done
    assert RESTARTED.search(done.stdout), done
    assert watch.notices("restart w1: done"), watch.items  # the watcher did it
    window = fleet.window("w1")
    assert window is not None
    assert (window["@orch-attempt"], window["pane_dead"]) == ("2", "0")
    now = alive(fleet)
    assert now["w1"] != before["w1"]
    assert now["w2"] == before["w2"]
    assert leftovers(fleet) == []  # the result was removed once read
    watch.close()


def test_cleanup_while_the_watcher_runs(
    fleet: Fleet, watcher: Callable[[], WatchThread], retry_until: Retry
) -> None:
    configure(fleet)
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    watch = running(fleet, watcher, retry_until, "w1", "w2")
    (fleet.worktree("w1") / "notes.txt").write_text("unsaved notes\n")
    old = fleet.window("w1")
    w2 = alive(fleet)["w2"]

    done = fleet.cli("cleanup", "w1", "--yes")

    assert done.returncode == 0, done
    assert "remove-worktree w1: cleanup requested" in done.stdout  # the plan, then the events
    backup = re.search(r" w1 remove-worktree: .* backup=(refs/orch/backups/w1/\S+)", done.stdout)
    assert backup, done.stdout
    saved = fleet.git(fleet.repo, "show", f"{backup.group(1)}:notes.txt").stdout
    assert saved == "unsaved notes\n"
    assert watch.notices("cleanup w1: done"), watch.items
    # w1 is still in the specs: the watcher starts it again, in a fresh worktree
    retry_until(
        lambda: (w := fleet.window("w1")) and w["window_id"] != old["window_id"],
        15,
        message="w1 started again",
    )
    assert not (fleet.worktree("w1") / "notes.txt").exists()
    assert alive(fleet)["w2"] == w2
    watch.close()


def test_no_wait_prints_the_request_id_and_the_watcher_does_the_rest(
    fleet: Fleet, watcher: Callable[[], WatchThread], retry_until: Retry
) -> None:
    configure(fleet)
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    watch = running(fleet, watcher, retry_until, "w1")

    started = time.monotonic()
    done = fleet.cli("restart", "w1", "--no-wait")

    assert done.returncode == 0, done
    request_id = done.stdout.strip()
    assert REQUEST_ID.match(request_id), done
    assert "left for the watcher" in done.stderr
    result = requests_dir(fleet) / f"{request_id}.result.json"
    text = retry_until(lambda: result.is_file() and result.read_text(), 10, message="the result")
    answer = json.loads(text)
    assert (answer["ok"], answer["op"], answer["error"]) == (True, "restart", None)
    assert any("start-agent work#2: restart requested" in line for line in answer["lines"])
    assert fleet.window("w1")["@orch-attempt"] == "2"
    assert time.monotonic() - started < 10
    watch.close()


def test_a_request_the_watcher_refuses_exits_1_with_the_reason(
    fleet: Fleet, watcher: Callable[[], WatchThread], retry_until: Retry
) -> None:
    configure(fleet)
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    watch = running(fleet, watcher, retry_until, "w1")
    pid = alive(fleet)["w1"]

    for args, reason in (
        (["restart", "nosuch"], 'no worker "nosuch" in the specs'),
        (["restart", "w1", "--stage", "nope"], 'pipeline "p" has no stage "nope" (work)'),
        (["suspend", "nosuch"], 'no worker "nosuch" in the specs'),
    ):
        done = fleet.cli(*args)
        assert done.returncode == 1, (args, done)
        assert done.stderr == f"error: {reason}\n", (args, done)
        assert watch.notices(f"{' '.join(args)}: refused: {reason}"), watch.items
    assert alive(fleet) == {"w1": pid}
    assert leftovers(fleet) == []
    watch.close()


def test_a_malformed_request_is_answered_and_set_aside(
    fleet: Fleet, watcher: Callable[[], WatchThread], retry_until: Retry
) -> None:
    configure(fleet)
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    folder = requests_dir(fleet)
    folder.mkdir(parents=True)
    unread = {name: folder / f"{name}.result.json" for name in ("old", "new")}
    for path in unread.values():
        path.write_text('{"ok": true}')
    two_hours_ago = time.time() - 7200
    os.utime(unread["old"], (two_hours_ago, two_hours_ago))
    watch = running(fleet, watcher, retry_until, "w1")
    assert (unread["old"].exists(), unread["new"].exists()) == (False, True)  # stale: removed
    for request_id, body, reason in (
        ("20250101T000000000Z-000001", "{not json", "malformed request: Expecting"),
        ("20250101T000000000Z-000002", '{"op": "explode"}', "op 'explode' is not one of"),
        ("20250101T000000000Z-000003", '{"op": "restart", "workers": ["w1", "w2"]}', "workers"),
        ("20250101T000000000Z-000004", "[1, 2]", "malformed request: not a JSON object"),
    ):
        (folder / f"{request_id}.json").write_text(body)
        result = folder / f"{request_id}.result.json"
        answer = json.loads(retry_until(lambda r=result: r.is_file() and r.read_text(), 10))
        assert answer["ok"] is False
        assert reason in answer["error"], answer
        assert (folder / f"{request_id}.json.bad").read_text() == body
        assert not (folder / f"{request_id}.json").exists()
    assert watch.thread.is_alive()
    # The answer is written before the notice is printed: wait for the fourth notice.
    retry_until(lambda: len(watch.notices("moved aside")) == 4, 10, message="four notices")
    # a request nobody took for long (no watcher ran) is answered, not applied
    late = folder / "20250101T000000000Z-000005.json"
    late.write_text('{"op": "restart", "workers": ["w1"]}')
    os.utime(late, (two_hours_ago, two_hours_ago))
    result = folder / "20250101T000000000Z-000005.result.json"
    answer = json.loads(retry_until(lambda: result.is_file() and result.read_text(), 10))
    assert answer["error"] == "expired: the request is 120 minutes old; not applied", answer
    assert fleet.window("w1")["@orch-attempt"] == "1"
    done = fleet.cli("restart", "w1")  # and the watcher still takes requests
    assert done.returncode == 0, done
    assert "restart requested" in done.stdout
    watch.close()


# -- without a watcher; a one-shot reconcile; a watcher that goes away -----------------------


def test_without_a_watcher_the_command_does_the_work_itself(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    fleet.reconcile()
    done = fleet.cli("restart", "w1", "--no-wait")  # nothing to wait for: done at once
    assert done.returncode == 0, done
    assert RESTARTED.search(done.stdout), done
    assert fleet.window("w1")["@orch-attempt"] == "2"
    assert not requests_dir(fleet).exists()


def test_a_one_shot_reconcile_is_waited_for_a_few_seconds_then_exit_3(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    fleet.reconcile()
    with reconciler_lock(fleet.root / "state"):  # a one-shot pass that does not end
        started = time.monotonic()
        done = fleet.cli("restart", "w1")
        took = time.monotonic() - started
    assert done.returncode == 3, done
    assert done.stderr.startswith(f"error: locked by pid {os.getpid()} on host "), done
    assert took >= 5.0, took
    assert fleet.window("w1")["@orch-attempt"] == "1"
    assert leftovers(fleet) == []

    # a pass that ends within those seconds: the command goes on and does the work
    lock = reconciler_lock(fleet.root / "state")
    lock.__enter__()
    proc = _cli_process(fleet, "restart", "w1")
    time.sleep(1.0)  # the scenario itself: a one-shot pass that lasts a second
    lock.__exit__(None, None, None)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, (out, err)
    assert "restart requested" in out
    assert fleet.window("w1")["@orch-attempt"] == "2"


def _cli_process(fleet: Fleet, *args: str) -> subprocess.Popen[str]:
    """The CLI in a subprocess that runs while the test goes on."""
    main = "from reconciler.cli.app import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", main, "--root", str(fleet.root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "ORCH_TMUX_SOCKET": fleet.socket},
    )


def test_a_request_the_watcher_never_took_is_taken_back(fleet: Fleet, retry_until: Retry) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    fleet.reconcile()
    # a watcher that stops before reading its requests: the command does the work itself
    lock = reconciler_lock(fleet.root / "state", watch=True)
    lock.__enter__()
    try:
        proc = _cli_process(fleet, "restart", "w1")
        retry_until(lambda: leftovers(fleet), 15, message="the request file")
    finally:
        lock.__exit__(None, None, None)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, (out, err)
    assert "restart requested" in out
    assert fleet.window("w1")["@orch-attempt"] == "2"
    assert leftovers(fleet) == []

    # a watcher that is stuck: the command gives up and withdraws its request
    with reconciler_lock(fleet.root / "state", watch=True):
        with pytest.raises(RequestFailed, match=r"did not take restart w1 .* withdrawn"):
            perform(fleet.root, Request("restart", ("w1",)), timeout=1.0)
        assert leftovers(fleet) == []
    assert fleet.window("w1")["@orch-attempt"] == "2"


def test_help_teaches_with_examples(fleet: Fleet) -> None:
    for command in ("restart", "cleanup", "suspend", "resume"):
        done = fleet.cli(command, "--help")
        assert done.returncode == 0, done
        assert f"\n    orch {command} " in done.stdout, done.stdout
        assert "--no-wait" in done.stdout
        assert "state/requests/" in done.stdout


# -- suspend and resume ------------------------------------------------------------------------

WORKERS = """\
# the workers of this test: comments and layout must survive the edits
apiVersion: orch/v1
kind: Worker
metadata:
  name: w1    # suspended and resumed below
spec:         # what w1 does
  repo: app   # the target repo
  pipeline: p
  agent: fake
---
apiVersion: orch/v1
kind: Worker
metadata: {name: w2}
spec:
  repo: app
  pipeline: p
  agent: fake
"""
SUSPENDED = WORKERS.replace("# what w1 does\n", "# what w1 does\n  suspend: true\n")
RESUMED = WORKERS.replace("# what w1 does\n", "# what w1 does\n  suspend: false\n")


def commit_all(fleet: Fleet, message: str) -> str:
    fleet.git(fleet.root, "add", "-A")
    fleet.git(fleet.root, "commit", "-q", "-m", message)
    return str(fleet.git(fleet.root, "rev-parse", "HEAD").stdout.strip())


def user_changes(fleet: Fleet) -> tuple[str, str]:
    """A staged new file and an unstaged edit of the user's, unrelated to the specs."""
    fleet.write("docs/plan.md", "staged plan\n")
    fleet.git(fleet.root, "add", "docs/plan.md")
    with (fleet.root / ".gitignore").open("a") as fh:
        fh.write("# a local edit, not staged\n")
    return "docs/plan.md", ".gitignore"


def assert_committed(fleet: Fleet, since: str, subject: str, user: tuple[str, str]) -> str:
    """Exactly one new commit, ``subject``, touching only the spec file; the user's changes kept."""
    log = fleet.git(fleet.root, "log", "--format=%H %an|%s", f"{since}..HEAD").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in log] == [f"Test User|{subject}"], log
    files = fleet.git(fleet.root, "show", "--name-only", "--format=", "HEAD").stdout.split()
    assert files == ["specs/workers.yaml"]
    assert fleet.git(fleet.root, "diff", "--cached", "--name-only").stdout.split() == [user[0]]
    assert fleet.git(fleet.root, "diff", "--name-only").stdout.split() == [user[1]]
    return log[0].split(" ", 1)[0]


@pytest.mark.parametrize("with_watcher", [False, True], ids=["alone", "watcher"])
def test_suspend_and_resume_edit_commit_and_apply(
    fleet: Fleet, watcher: Callable[[], WatchThread], retry_until: Retry, with_watcher: bool
) -> None:
    configure(fleet)
    fleet.base("sleep.sh")
    fleet.write("specs/workers.yaml", WORKERS)
    head = commit_all(fleet, "specs")
    if with_watcher:
        watch = running(fleet, watcher, retry_until, "w1", "w2")
    else:
        fleet.reconcile()
        fleet.write("specs/later.yaml", WORKERS.split("---\n")[1].replace("w2", "w3"))
        head = commit_all(fleet, "w3, not started yet")
    user = user_changes(fleet)
    w2 = alive(fleet)["w2"]

    done = fleet.cli("suspend", "w1")

    assert done.returncode == 0, done
    assert done.stdout.startswith("suspended w1: specs/workers.yaml:5 now says suspend: true; ")
    assert (fleet.root / "specs" / "workers.yaml").read_text() == SUSPENDED
    sha = assert_committed(fleet, head, "orch: suspend worker w1", user)
    assert f'committed {sha[:10]} "orch: suspend worker w1"' in done.stdout
    if with_watcher:
        assert "the watcher applies it in its next pass" in done.stdout
    else:
        assert re.search(r"^\S+ w1 stop-agent: suspended", done.stdout, re.MULTILINE), done
    retry_until(lambda: "w1" not in alive(fleet), 15, message="w1 stopped")
    assert alive(fleet)["w2"] == w2
    assert fleet.worktree("w1").is_dir()  # suspended keeps everything

    again = fleet.cli("suspend", "w1")
    assert again.returncode == 0, again
    assert again.stdout == (
        'worker "w1" is already suspended (specs/workers.yaml:5); nothing changed\n'
    )
    assert fleet.git(fleet.root, "rev-parse", "HEAD").stdout.strip() == sha

    done = fleet.cli("resume", "w1")

    assert done.returncode == 0, done
    assert (fleet.root / "specs" / "workers.yaml").read_text() == RESUMED
    assert_committed(fleet, sha, "orch: resume worker w1", user)
    if not with_watcher:
        assert re.search(r"^\S+ w1 start-agent work#\d+: resumed", done.stdout, re.MULTILINE)
        assert "w3" not in fleet.owned()  # only w1's part of the plan was applied
    retry_until(lambda: "w1" in alive(fleet), 15, message="w1 running again")
    assert alive(fleet)["w2"] == w2
    if with_watcher:
        assert watch.notices("suspend w1: done") and watch.notices("resume w1: done")
        watch.close()


def test_no_commit_edits_only_and_a_changed_spec_file_is_not_committed(fleet: Fleet) -> None:
    configure(fleet)
    fleet.base("sleep.sh")
    fleet.write("specs/workers.yaml", WORKERS)
    head = commit_all(fleet, "specs")
    fleet.reconcile()
    edited = WORKERS + "# a note of the user's, not committed yet\n"
    (fleet.root / "specs" / "workers.yaml").write_text(edited)

    done = fleet.cli("suspend", "w1")
    assert done.returncode == 1, done
    assert done.stderr == (
        "error: specs/workers.yaml has uncommitted changes; commit them first, "
        "or pass --no-commit to only edit the file\n"
    )
    assert (fleet.root / "specs" / "workers.yaml").read_text() == edited
    assert "w1" in alive(fleet)

    done = fleet.cli("suspend", "w1", "--no-commit")
    assert done.returncode == 0, done
    assert "now says suspend: true; not committed" in done.stdout
    assert (fleet.root / "specs" / "workers.yaml").read_text() == edited.replace(
        "# what w1 does\n", "# what w1 does\n  suspend: true\n"
    )
    assert fleet.git(fleet.root, "rev-parse", "HEAD").stdout.strip() == head
    assert "w1" not in alive(fleet)
    assert fleet.cli("plan").returncode == 0  # the loop agrees: w1 stays suspended


def test_what_cannot_be_suspended_is_refused_and_nothing_is_written(fleet: Fleet) -> None:
    configure(fleet)
    fleet.base("sleep.sh")
    fleet.write(
        "specs/sets.yaml",
        """\
        # a WorkerSet: its workers are suspended in its template
        apiVersion: orch/v1
        kind: WorkerSet
        metadata:
          name: batch
        spec:
          items: [{n: 1}, {n: 2}]
          nameTemplate: "batch-{{ item.n }}"
          template: {repo: app, pipeline: p, agent: fake}
        ---
        apiVersion: orch/v1
        kind: Worker
        metadata: {name: flow}
        spec: {repo: app, pipeline: p, agent: fake}
        """,
    )
    head = commit_all(fleet, "specs")
    before = (fleet.root / "specs" / "sets.yaml").read_bytes()
    for args, message in (
        (
            ["suspend", "batch-2"],
            (
                'worker "batch-2" is generated by WorkerSet "batch" (specs/sets.yaml:5); set '
                "suspend in the WorkerSet's template, or remove the item there"
            ),
        ),
        (
            ["suspend", "flow"],
            (
                "specs/sets.yaml:14:7: Worker/flow: spec is written in flow style ({...}); "
                "orch does not reformat it: set suspend by hand, or write spec in block style"
            ),
        ),
    ):
        done = fleet.cli(*args)
        assert done.returncode == 1, (args, done)
        assert done.stderr == f"error: {message}\n", (args, done)
    assert (fleet.root / "specs" / "sets.yaml").read_bytes() == before
    assert fleet.git(fleet.root, "rev-parse", "HEAD").stdout.strip() == head
    assert fleet.git(fleet.root, "status", "--porcelain").stdout == ""
