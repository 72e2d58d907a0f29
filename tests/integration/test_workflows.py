"""`orch run` / `orch test`: real commands under the stall watchdog, in real git repositories."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from reconciler.core.workflows import WorkflowOptions
from reconciler.drivers.git import init_repo
from reconciler.drivers.watchdog import run_watched
from reconciler.loop.repos import load_specs
from reconciler.loop.workflows import run_workflows


def control(tmp: Path, workflows: dict[str, dict[str, str]], extra: str = "") -> Path:
    """A control repo with one Repo per entry (a real git repo at tmp/<name>)."""
    root = tmp / "ctl"
    (root / "specs").mkdir(parents=True)
    docs: list[dict[str, Any]] = []
    for name, flows in workflows.items():
        init_repo(tmp / name)
        docs.append({"apiVersion": "orch/v1", "kind": "Repo", "metadata": {"name": name},
                     "spec": {"path": f"../{name}", "workflows": flows}})  # fmt: skip
    (root / "specs" / "repos.yaml").write_text(yaml.safe_dump_all(docs) + extra)
    return root


def orch(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `orch` CLI of this environment; never a traceback."""
    done = subprocess.run([str(Path(sys.executable).parent / "orch"), "--root", str(root), *args],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                          timeout=60)  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done
    return done


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie lingers where PID 1 does not reap)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_hanging_workflow_is_killed_after_the_stall_time_and_retried(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    hang = f"echo started; sleep 300 & echo $! >> {pids}; wait"
    root = control(tmp_path, {"app": {"test": hang}})
    lines: list[tuple[str, str]] = []

    start = time.monotonic()
    report = run_workflows(load_specs(root), "test", ["app"],
                           options=WorkflowOptions(stall=1.0, retries=1),
                           on_line=lambda target, line: lines.append((target, line)))  # fmt: skip
    took = time.monotonic() - start

    [run] = report.runs
    assert not report.ok and run.result == "stalled"
    assert [(a.number, a.result) for a in run.attempts] == [(1, "stalled"), (2, "stalled")]
    assert 2.0 <= took < 20, took  # two attempts of at least the 1 s stall each
    for attempt in run.attempts:
        assert attempt.duration >= 1.0
        assert attempt.reason == "no output for 1s: process group killed"
        log = Path(attempt.log).read_text()
        assert "started\n" in log and "# orch: stalled" in log
    assert [Path(a.log).name for a in run.attempts] == ["app.1.log", "app.2.log"]
    killed = [int(p) for p in pids.read_text().split()]
    assert len(killed) == 2 and not any(alive(p) for p in killed)  # the whole group went
    assert ("app", "started") in lines
    note = "[orch] attempt 1: stalled: no output for 1s: process group killed; retrying (2 of 2)"
    assert ("app", note) in lines
    summary = json.loads((Path(report.folder) / "summary.json").read_text())
    assert [a["result"] for a in summary["runs"][0]["attempts"]] == ["stalled", "stalled"]


def test_jobs_run_repos_in_parallel(tmp_path: Path) -> None:
    root = control(tmp_path, {n: {"test": "sleep 1; echo {{ repo }} ok"} for n in "abc"})
    start = time.monotonic()
    report = run_workflows(load_specs(root), "test", all_repos=True,
                           options=WorkflowOptions(jobs=3))  # fmt: skip
    took = time.monotonic() - start
    assert report.ok and [r.target for r in report.runs] == ["a", "b", "c"]
    assert all(r.duration >= 1.0 for r in report.runs)
    assert took < 2.5, f"3 runs of 1 s with -j 3 took {took:.2f}s"
    assert Path(report.runs[1].log or "").read_text().splitlines()[2] == "b ok"


def test_a_missing_workflow_is_a_clear_error_and_runs_nothing(tmp_path: Path) -> None:
    root = control(tmp_path, {"app": {"build": "true", "test": "true"}, "docs": {}})
    done = orch(root, "run", "lint", "app")
    assert done.returncode == 1
    want = 'error: repo "app" has no workflow "lint"; its workflows: build, test'
    assert done.stderr.strip() == want
    bare = orch(root, "test", "docs")
    assert bare.returncode == 1
    text = (root / "specs" / "repos.yaml").read_text().splitlines()
    line = 1 + next(i for i, t in enumerate(text) if t.strip() == "name: docs")
    assert bare.stderr.strip() == (
        'error: repo "docs" has no workflow "test"; it has none '
        f"(add spec.workflows to the Repo at specs/repos.yaml:{line})"
    )
    assert not (root / "state" / "runs").exists()


def test_a_failure_is_not_retried_and_the_summary_says_so(tmp_path: Path) -> None:
    root = control(tmp_path, {"app": {"test": "echo one; exit 3"}, "lib": {"test": "echo fine"}})
    done = orch(root, "test", "app", "lib")
    assert done.returncode == 1
    assert "app | one\n" in done.stdout and "lib | fine\n" in done.stdout
    summary = done.stdout.split("TARGET", 1)[1].splitlines()
    assert summary[1].split()[:2] == ["app", "failed"] and summary[1].split()[3] == "1"
    assert summary[2].split()[:2] == ["lib", "passed"]
    as_json = orch(root, "test", "lib", "--json")
    assert as_json.returncode == 0 and "lib | fine" in as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["ok"] and data["runs"][0]["attempts"][0]["exitCode"] == 0


def test_templates_are_rendered_in_the_sandbox_with_vars(tmp_path: Path) -> None:
    root = control(tmp_path, {"app": {
        "hello": "echo {{ repo }} {{ branch }} {{ vars.greeting }}",
        "bad": "echo {{ nope }}",
        "evil": "echo {{ ''.__class__.__mro__ }}",
    }})  # fmt: skip
    done = orch(root, "run", "hello", "app", "--var", "greeting=hi")
    assert done.returncode == 0 and "app | app main hi\n" in done.stdout
    bad = orch(root, "run", "bad", "app")
    assert bad.returncode == 1
    where = r'error: specs/repos.yaml:\d+:\d+: Repo/app: workflow "bad": template:'
    assert re.match(where, bad.stderr)
    assert "'nope' is undefined" in bad.stderr
    evil = orch(root, "run", "evil", "app")
    assert evil.returncode == 1 and "SecurityError" in evil.stderr


WORKER = """---
apiVersion: orch/v1
kind: Agent
metadata: {name: fake}
spec: {command: [sh, -c, "sleep 1"]}
---
apiVersion: orch/v1
kind: Pipeline
metadata: {name: p}
spec:
  stages: [{name: work, prompt: stage.md.j2}]
---
apiVersion: orch/v1
kind: Worker
metadata: {name: w1}
spec: {repo: app, pipeline: p, agent: fake, vars: {topic: parser}}
"""


def test_worker_runs_in_its_worktree(tmp_path: Path) -> None:
    root = control(tmp_path, {"app": {"where": "pwd; echo {{ branch }} {{ vars.topic }}"}}, WORKER)
    (root / "stage.md.j2").write_text("work\n")
    missing = orch(root, "run", "where", "--worker", "w1")
    assert missing.returncode == 1 and "has no worktree" in missing.stderr
    worktree = root / "worktrees" / "app" / "w1"
    subprocess.run(["git", "-C", str(tmp_path / "app"), "worktree", "add", "-q", str(worktree),
                    "-b", "orch/w1"], check=True)  # fmt: skip
    done = orch(root, "run", "where", "-w", "w1")
    assert done.returncode == 0, done.stderr
    assert f"w1 | {worktree.resolve()}\n" in done.stdout
    assert "w1 | orch/w1 parser\n" in done.stdout
    both = orch(root, "run", "where", "app", "-w", "w1")
    assert both.returncode == 1 and "not both" in both.stderr


def test_the_watchdog_ends_what_a_command_left_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    done = run_watched(f"sleep 300 & echo $! > {pid_file}; echo bye", tmp_path, tmp_path / "log",
                       stall=30, timeout=30)  # fmt: skip
    assert (done.exit_code, done.killed) == (0, None)
    assert not alive(int(pid_file.read_text()))
    assert (tmp_path / "log").read_text() == "bye\n"
    chatty = run_watched("while :; do echo x; sleep 0.1; done", tmp_path, tmp_path / "log2",
                         stall=30, timeout=1.0)  # fmt: skip
    assert chatty.killed == "timeout" and 1.0 <= chatty.duration < 10


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_kills_its_commands_first(
    tmp_path: Path, sig: signal.Signals, retry_until: Callable[..., object]
) -> None:
    pids = tmp_path / "pids"
    root = control(tmp_path, {n: {"test": f"sleep 300 & echo $! >> {pids}; wait"} for n in "ab"})
    orch_bin = str(Path(sys.executable).parent / "orch")
    proc = subprocess.Popen([orch_bin, "--root", str(root), "test", "--all", "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        retry_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, 30)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert err.strip().endswith("interrupted") and "Traceback" not in err
    sleepers = [int(p) for p in pids.read_text().split()]
    assert not any(alive(p) for p in sleepers)


def test_cancel_from_another_thread_ends_the_runs(
    tmp_path: Path, retry_until: Callable[..., object]
) -> None:
    pids = tmp_path / "pids"
    root = control(tmp_path, {"app": {"test": f"sleep 300 & echo $! >> {pids}; wait"}})
    cancel = threading.Event()
    reports: list[Any] = []
    thread = threading.Thread(target=lambda: reports.append(
        run_workflows(load_specs(root), "test", ["app"], cancel=cancel)))  # fmt: skip
    thread.start()
    retry_until(pids.exists, 30)
    cancel.set()
    thread.join(30)
    [run] = reports[0].runs
    assert [a.result for a in run.attempts] == ["cancelled"]  # and not retried
    assert not alive(int(pids.read_text()))
