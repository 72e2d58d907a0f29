"""The watcher's report commits: their cadence, and a user's checkout they never touch.

Real workers (tests/agents/sleep.sh) in tmux on the test's private socket, the
watch loop in a thread (``watch_thread``), real git: the control repo, a bare
remote beside it and a second clone playing another host. Phases are moved by
writing the workers' signal files, as agents do.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
WatchThread = Any  # tests/integration/conftest.py:WatchThread
Retry = Callable[..., Any]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout.strip()


def configure(fleet: Fleet, reports: str, host: str = "") -> None:
    fleet.settings("resync: 1s, debounce: 100ms, maxPruneFraction: 0.5", reports=reports,
                   extra=host)


def signal(fleet: Fleet, worker: str, kind: str) -> None:
    """Write the worker's stage signal (``done`` or ``failed``), as its agent would."""
    path = fleet.worktree(worker) / ".orch" / "signals" / f"work.{kind}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": f"test says {kind}"}) + "\n")


def phase_changes(watch: WatchThread) -> int:
    """How many times some worker's phase changed between the watcher's passes."""
    seen: dict[str, str] = {}
    count = 0
    for result in list(watch.passes):
        for name, status in result.plan.statuses.items():
            if seen.get(name) != status.phase.value:
                count += 1
            seen[name] = status.phase.value
    return count


def test_a_burst_of_phase_changes_makes_one_commit_and_a_settled_fleet_one_more(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    configure(fleet, 'commit: true, minInterval: 1h, settle: 2s, author: "bot <b@x.y>"')
    fleet.base("sleep.sh")
    names = [f"w{i:02d}" for i in range(10)]
    fleet.workers(names)
    fleet.git(fleet.root, "add", "-A")
    fleet.git(fleet.root, "commit", "-q", "-m", "ten workers")
    done = fleet.cli("report", "--commit", "--json")  # the last report commit: just now
    assert json.loads(done.stdout)["commit"], done

    def report_commits() -> list[str]:
        return git(fleet.root, "log", "--format=%s", "--", "reports").splitlines()

    before = report_commits()
    watch = watch_thread()
    running = lambda: all(s["phase"] == "Running" for s in fleet.status().values())  # noqa: E731
    retry_until(running, 30, message="ten workers running")
    for name in names[:5]:
        signal(fleet, name, "failed")
    retry_until(lambda: len(report_commits()) > len(before), 20, message="the settle commit")
    burst = phase_changes(watch)
    assert burst >= 20, burst  # 10 starts (Pending, Provisioning, Running) and 5 failures
    first = report_commits()
    assert first[0] == "orch: status: 5 running, 5 failed", first
    assert len(first) == len(before) + 1
    # more passes within minInterval: nothing more to commit
    seen = len(watch.passes)
    retry_until(lambda: len(watch.passes) >= seen + 3, 15, message="three more passes")
    assert report_commits() == first

    for name in names[5:]:
        signal(fleet, name, "done")
    retry_until(lambda: len(report_commits()) > len(first), 20, message="the settled commit")
    settled = report_commits()
    assert settled[0] == "orch: status: 5 succeeded, 5 failed", settled
    seen = len(watch.passes)
    retry_until(lambda: len(watch.passes) >= seen + 3, 15, message="three more passes")
    assert report_commits() == settled  # one commit for the settled fleet, not one a pass
    assert not [n for n in watch.notices() if n.startswith("warning")], watch.notices()
    watch.close()


def checkout(root: Path) -> dict[str, Any]:
    """Everything of the user's checkout a report commit must leave as it was."""
    files = {
        p.name: p.read_text() for p in sorted(root.iterdir()) if p.is_file() and p.name[0] != "."
    }
    return {
        "files": files,
        "index": git(root, "ls-files", "-s"),
        "stash": git(root, "stash", "list"),
        "head": git(root, "rev-parse", "HEAD"),
        "branch": git(root, "symbolic-ref", "HEAD"),
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "staged": git(root, "diff", "--cached"),
        "unstaged": git(root, "diff"),
    }


def test_the_watcher_pushes_reports_to_their_own_branch_and_leaves_the_checkout_alone(
    fleet: Fleet,
    watch_thread: Callable[[], WatchThread],
    retry_until: Retry,
    tmp_path: Path,
) -> None:
    ctl = fleet.root
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(ctl, "remote", "add", "origin", str(remote))
    git(ctl, "push", "-q", "-u", "origin", "main")
    published = git(ctl, "rev-parse", "main")
    # another host got there first: its own report on orch/status
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(remote), str(other)], check=True)
    git(other, "switch", "-q", "--orphan", "orch/status")
    (other / "reports").mkdir()
    (other / "reports" / "b.md").write_text("# Fleet status: b\n")
    git(other, "add", "reports/b.md")
    git(other, "commit", "-q", "-m", "orch: status: b")
    git(other, "push", "-q", "origin", "orch/status")

    # the user: an unpushed commit (the specs), staged, unstaged and untracked edits, a stash
    configure(
        fleet,
        "commit: true, branch: orch/status, push: true, path: 'reports/{host}.md', "
        "minInterval: 1h, settle: 1s",
        host="host: {name: a}",
    )
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    fleet.write("notes.md", "notes\n")
    git(ctl, "add", "-A")
    git(ctl, "commit", "-q", "-m", "two workers")
    fleet.write("notes.md", "stashed edit\n")
    git(ctl, "stash", "push", "-q", "-m", "the user's stash")
    fleet.write("notes.md", "notes\nstaged edit\n")
    git(ctl, "add", "notes.md")
    fleet.write("notes.md", "notes\nstaged edit\nunstaged edit\n")
    fleet.write("draft.md", "a new staged file\n")
    git(ctl, "add", "draft.md")
    fleet.write("scratch.txt", "untracked\n")
    before = checkout(ctl)
    assert before["stash"] and before["staged"] and before["unstaged"], before

    def remote_reports() -> list[str]:
        return git(remote, "log", "--format=%s", "orch/status").splitlines()

    watch = watch_thread()
    retry_until(lambda: len(remote_reports()) >= 2, 30, message="the first report pushed")
    # another report from the other host meanwhile; then a worker fails: a new report
    git(other, "pull", "-q", "--rebase", "origin", "orch/status")
    (other / "reports" / "b.md").write_text("# Fleet status: b\n\nround 2\n")
    git(other, "commit", "-q", "-am", "orch: status: b, round 2")
    git(other, "push", "-q", "origin", "orch/status")
    retry_until(lambda: all(s["phase"] == "Running" for s in fleet.status().values()), 30)
    signal(fleet, "w1", "failed")
    retry_until(
        lambda: remote_reports()[0] == "orch: status: 1 running, 1 failed",
        30,
        message="the report of the failure pushed over the other host's",
    )
    watch.close()

    assert checkout(ctl) == before
    assert git(remote, "rev-parse", "main") == published  # the user's commit stays theirs
    assert git(remote, "ls-tree", "-r", "--name-only", "orch/status").splitlines() == [
        "reports/a.md",
        "reports/b.md",
        "reports/workers/w1.md",  # the run reports go along
        "reports/workers/w2.md",
    ]
    assert "round 2" in git(remote, "show", "orch/status:reports/b.md")
    assert "| w1 | Failed |" in git(remote, "show", "orch/status:reports/a.md")
    assert git(remote, "rev-list", "--merges", "--count", "orch/status") == "0"
    assert not (ctl / "reports").exists()
    assert (ctl / "state" / "reports" / "a.md").is_file()  # the local copy, git-ignored
    assert (ctl / "state" / "reports" / "workers" / "w1.md").is_file()
    assert git(ctl, "rev-parse", "orch/status") == git(remote, "rev-parse", "orch/status")
    pushed = [n for n in watch.notices("report ") if "pushed" in n]
    assert any("pushed (2 tries)" in n for n in pushed), watch.notices()
