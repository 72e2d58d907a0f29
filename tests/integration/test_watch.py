"""`orch reconcile --watch`: file events, debounce, resync timer, bad specs, signals.

Two ways to run the loop, both real (tmux on the test's private socket, git,
agent processes):

- ``WatchProcess``: ``orch reconcile --watch --json`` as a subprocess; every
  stdout line (events, and ``{"notice": ...}``) is collected by a reader thread
  with its arrival time. Used for signals and exit codes.
- ``WatchThread``: :func:`reconciler.loop.watch.watch_loop` in a thread with its own
  StopFlag; ``engine.apply_pass`` is wrapped to record every pass, so a test can
  count passes exactly (a no-op pass prints nothing on the CLI).

Agents: tests/agents/*.sh and tests/agents/watch/*.sh.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.loop import engine
from reconciler.loop.state_store import reconciler_lock

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
WatchThread = Any  # tests/integration/conftest.py:WatchThread
Retry = Callable[..., Any]
TEARDOWN = {"stop-agent", "remove-worktree", "kill-window", "forget"}
LONG = {"maxRestarts": 3, "backoff": {"initial": "1m", "max": "1m"}}


def configure(
    fleet: Fleet, *, resync: str = "1s", debounce: str = "200ms", reports: str = "commit: false"
) -> None:
    """config/orch.yaml: the test's tmux socket, fast timers, no report commits."""
    fleet.settings(f"resync: {resync}, debounce: {debounce}, maxPruneFraction: 0.5",
                   reports=reports)


def alive_pids(fleet: Fleet) -> dict[str, str]:
    """Worker -> pane pid of every live orch-owned window."""
    return {n: w["pane_pid"] for n, w in fleet.owned().items() if w["pane_dead"] == "0"}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- the loop as a subprocess ----------------------------------------------------------


class WatchProcess:
    """``orch --root ROOT reconcile --watch --json`` with its output collected."""

    def __init__(self, fleet: Fleet, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "ORCH_TMUX_SOCKET": fleet.socket, **(env or {})}
        argv = [
            sys.executable,
            "-c",
            "from reconciler.cli.app import main; main()",
            "--root",
            str(fleet.root),
            "reconcile",
            "--watch",
            "--json",
        ]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: list[tuple[float, dict[str, Any]]] = []  # (arrival wall time, JSON)
        self.raw: list[str] = []
        self.stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            with contextlib.suppress(ValueError):
                self.lines.append((time.time(), json.loads(line)))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def events(self, verb: str | None = None, worker: str | None = None) -> list[dict[str, Any]]:
        return [
            d
            for _, d in list(self.lines)
            if "verb" in d
            and (verb is None or d["verb"] == verb)
            and (worker is None or d["worker"] == worker)
        ]

    def notices(self, text: str = "") -> list[str]:
        return [d["notice"] for _, d in list(self.lines) if "notice" in d and text in d["notice"]]

    def arrival(self, pred: Callable[[dict[str, Any]], bool]) -> float | None:
        """Wall time the first line matching ``pred`` was read."""
        return next((t for t, d in list(self.lines) if pred(d)), None)

    def wait_watching(self, retry: Retry) -> None:
        retry(
            lambda: self.notices("watching") or self.proc.poll() is not None,
            15,
            message="the watching notice",
        )
        assert self.proc.poll() is None, self.output()

    def output(self) -> str:
        return "".join(self.raw) + "".join(self.stderr)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, seconds: float) -> int:
        code = self.proc.wait(timeout=seconds)
        for t in self._threads:
            t.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def watch_process(fleet: Fleet) -> Iterator[Callable[..., WatchProcess]]:
    started: list[WatchProcess] = []

    def start(env: dict[str, str] | None = None) -> WatchProcess:
        w = WatchProcess(fleet, env)
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill()


# -- the loop in a thread: WatchThread and watch_thread in conftest.py ---------------------


def verbs(result: engine.PassResult, verb: str) -> list[str]:
    return [e.worker for e in result.events if e.verb == verb]


# -- debounce ------------------------------------------------------------------------------


def test_ten_rapid_saves_make_one_pass(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    # Only file events trigger passes here; a 1 s debounce leaves room for a busy machine.
    configure(fleet, resync="60s", debounce="1s")
    fleet.base("sleep.sh")
    fleet.workers([])
    watch = watch_thread()
    retry_until(lambda: watch.passes, 15, message="the first pass")
    assert watch.passes[0].events == ()
    first = len(watch.passes)

    t0 = time.monotonic()
    for n in range(1, 11):  # each save adds one worker
        fleet.workers([f"w{i:02d}" for i in range(1, n + 1)])
        time.sleep(0.009)
    assert time.monotonic() - t0 < 0.8  # all within one debounce window

    names = [f"w{i:02d}" for i in range(1, 11)]
    retry_until(lambda: sorted(alive_pids(fleet)) == names, 30, message="10 live windows")
    retry_until(lambda: len(watch.passes) > first, 5)
    time.sleep(1.5)  # longer than the debounce: would show a second pass for the same saves
    later = watch.passes[first:]
    assert len(later) == 1, [[(e.verb, e.worker) for e in p.events] for p in later]
    assert sorted(verbs(later[0], "create-worktree")) == names
    assert sorted(verbs(later[0], "start-agent")) == names
    watch.close()


# -- invalid specs ---------------------------------------------------------------------------


@pytest.mark.parametrize("broken", ["specs/workers.yaml", "config/orch.yaml"])
def test_invalid_spec_keeps_every_worker_and_is_told_once(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry, broken: str
) -> None:
    configure(fleet, resync="1s")
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    watch = watch_thread()
    retry_until(lambda: sorted(alive_pids(fleet)) == ["w1", "w2"], 20)
    pids = alive_pids(fleet)
    worktrees = fleet.worktrees()
    good = (fleet.root / broken).read_text()

    before = len(watch.passes)
    (fleet.root / broken).write_text(good + "\n  this: [is not: valid yaml\n")
    retry_until(lambda: watch.notices("specs invalid"), 10, message="the error notice")
    seen = len(watch.passes)
    # at least three more resync ticks under the broken spec
    retry_until(lambda: len(watch.passes) >= seen + 3, 10, message="three more passes")
    assert len(watch.notices("specs invalid")) == 1, watch.notices()
    assert alive_pids(fleet) == pids
    assert fleet.worktrees() == worktrees
    for result in watch.passes[before:]:
        assert not [e for e in result.events if e.verb in TEARDOWN], result.events

    # fixed, with one more worker: reconciling resumes
    if broken == "config/orch.yaml":
        (fleet.root / broken).write_text(good)
    fleet.workers(["w1", "w2", "w3"])  # (for specs/workers.yaml this is the fix itself)
    retry_until(lambda: "w3" in alive_pids(fleet), 10, message="w3 started after the fix")
    assert len(watch.notices("specs valid again")) == 1
    assert {k: v for k, v in alive_pids(fleet).items() if k != "w3"} == pids
    watch.close()


def test_invalid_spec_at_start_reconciles_nothing_until_fixed(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    configure(fleet, resync="1s")
    fleet.base("sleep.sh")
    fleet.write(
        "specs/workers.yaml",
        "apiVersion: orch/v1\nkind: Worker\nmetadata: {name: w1}\n"
        "spec: {repo: nope, pipeline: p, agent: fake}\n",
    )
    watch = watch_thread()
    retry_until(lambda: watch.notices("specs invalid"), 10)
    assert watch.passes == []
    assert fleet.owned() == {}
    fleet.workers(["w1"])
    retry_until(lambda: "w1" in alive_pids(fleet), 10, message="w1 after the fix")
    assert len(watch.notices("specs invalid")) == 1
    watch.close()


# -- signals to the watch process -----------------------------------------------------------


def test_sigterm_exits_zero_and_leaves_agents_for_the_next_reconciler(
    fleet: Fleet,
    watch_process: Callable[[], WatchProcess],
    watch_thread: Callable[[], WatchThread],
    retry_until: Retry,
) -> None:
    configure(fleet, resync="1s")
    fleet.base("sleep.sh")
    fleet.workers(["w1", "w2"])
    watch = watch_process()
    watch.wait_watching(retry_until)
    retry_until(lambda: sorted(alive_pids(fleet)) == ["w1", "w2"], 20)
    pids = alive_pids(fleet)

    sent = time.monotonic()
    watch.signal(signal.SIGTERM)
    code = watch.wait(10)
    took = time.monotonic() - sent
    assert code == 0, watch.output()
    assert took < 5, took
    assert watch.notices("stopped; agents keep running")
    assert "Traceback" not in watch.output()
    # agents keep running: same panes, same processes
    assert alive_pids(fleet) == pids
    assert all(pid_alive(int(p)) for p in pids.values())
    # the lock is free
    with reconciler_lock(fleet.root / "state"):
        pass
    # the next reconciler adopts them: no start, no teardown
    again = watch_thread()
    retry_until(lambda: again.passes, 15, message="the adopting pass")
    again.close()
    assert again.passes[0].events == (), again.passes[0].events
    assert alive_pids(fleet) == pids
    # and a one-shot pass of the CLI agrees
    done = fleet.cli("reconcile", "--json")
    assert done.returncode == 0, done
    assert done.stdout.strip() == ""


def slow_git(fleet: Fleet, match: str, seconds: float) -> dict[str, str]:
    """Environment for a watcher whose git takes ``seconds`` to add the worktree ``match``."""
    return {
        "GIT_PYTHON_GIT_EXECUTABLE": str(fleet.agents_dir / "watch" / "slow_git.sh"),
        "REAL_GIT": shutil.which("git") or "git",
        "SLOW_GIT_MATCH": f"/{match}",
        "SLOW_GIT_SECONDS": str(seconds),
    }


def test_second_sigint_during_a_pass_exits_at_once(
    fleet: Fleet, watch_process: Callable[..., WatchProcess], retry_until: Retry
) -> None:
    configure(fleet, resync="60s")
    fleet.base("sleep.sh")
    fleet.workers({"w1": {}})
    # A git call that takes 20 s (below the 60 s git timeout) holds the first pass.
    watch = watch_process(slow_git(fleet, "w1", 20))
    watch.wait_watching(retry_until)
    time.sleep(0.5)  # the pass is inside the slow `git worktree add` now
    watch.signal(signal.SIGINT)
    time.sleep(0.5)
    assert watch.proc.poll() is None, "the first SIGINT must let the pass finish"
    sent = time.monotonic()
    watch.signal(signal.SIGINT)
    code = watch.wait(8)
    took = time.monotonic() - sent
    assert code == 128 + signal.SIGINT, watch.output()
    assert took < 3, took
    assert not watch.events("create-worktree")  # the pass was cut short


# -- file events from agents, and the resync timer -----------------------------------------


def test_signal_file_triggers_a_pass_long_before_the_resync(
    fleet: Fleet, watch_process: Callable[[], WatchProcess], retry_until: Retry
) -> None:
    configure(fleet, resync="60s")
    fleet.base(
        "watch/signal_after.sh",
        env={"SIGNAL_DELAY": "1"},
        stages=[fleet.stage("s1"), fleet.stage("s2")],
    )
    fleet.workers(["w1"])
    started = time.monotonic()
    watch = watch_process()
    watch.wait_watching(retry_until)

    retry_until(lambda: watch.events("start-agent", "w1"), 15)
    s1_done = fleet.worktree("w1") / ".orch" / "signals" / "s1.done"
    retry_until(
        lambda: [e for e in watch.events("start-agent", "w1") if e["stage"] == "s2"],
        10,
        message="stage s2 started",
    )
    s2_at = watch.arrival(lambda d: d.get("verb") == "start-agent" and d.get("stage") == "s2")
    assert s2_at is not None
    assert s2_at - s1_done.stat().st_mtime < 3.0
    retry_until(lambda: watch.events("phase Succeeded", "w1"), 10, message="w1 succeeded")
    assert time.monotonic() - started < 30  # the 60 s resync never came into it

    # every event printed was appended to state/events.jsonl, in order
    logged = [
        json.loads(x) for x in (fleet.root / "state" / "events.jsonl").read_text().splitlines()
    ]
    assert logged == watch.events()
    assert [(e["verb"], e.get("stage")) for e in logged if e["worker"] == "w1"] == [
        ("create-worktree", None),
        ("start-agent", "s1"),
        ("stop-agent", "s2"),  # s1's agent lingers: stopped, then s2 starts on the next pass
        ("start-agent", "s2"),
        ("stop-agent", None),
        ("phase Succeeded", None),
    ]
    watch.signal(signal.SIGTERM)
    assert watch.wait(10) == 0


def test_signal_written_during_the_starting_pass_is_not_missed(
    fleet: Fleet, watch_process: Callable[..., WatchProcess], retry_until: Retry
) -> None:
    configure(fleet, resync="60s")
    # w1's agent signals at once; w2's worktree (made later in the same pass, by
    # a slow git) keeps the pass going for a second after w1's signal
    fleet.base(
        "sleep.sh", agents={"quick": "signal.sh"}, stages=[fleet.stage("s1"), fleet.stage("s2")]
    )
    fleet.workers({"w1": {"agent": "quick"}, "w2": {}})
    watch = watch_process(slow_git(fleet, "w2", 1.5))
    watch.wait_watching(retry_until)
    retry_until(lambda: watch.events("start-agent", "w2"), 20)
    s1_done = fleet.worktree("w1") / ".orch" / "signals" / "s1.done"
    assert s1_done.exists()
    retry_until(
        lambda: [e for e in watch.events("start-agent", "w1") if e["stage"] == "s2"],
        4,
        message="w1's stage s2 within seconds of its signal (resync is 60 s)",
    )


def test_stall_is_detected_on_the_resync_timer(
    fleet: Fleet, watch_process: Callable[[], WatchProcess], retry_until: Retry
) -> None:
    configure(fleet, resync="1s")
    fleet.base("sleep.sh", stages=[fleet.stage("work", stallTimeout="2s")])
    fleet.workers({"w1": {"restartPolicy": LONG}})
    watch = watch_process()
    watch.wait_watching(retry_until)
    stalled = retry_until(
        lambda: [e for e in watch.events("phase Backoff", "w1") if "stalled" in e["reason"]],
        15,
        message="the stall",
    )
    at = watch.arrival(lambda d: d.get("verb") == "phase Backoff")
    assert at is not None
    state = fleet.state("w1")
    log = Path(state["log"])
    last_activity = max(float(state["attempt_started_at"]), log.stat().st_mtime)
    late = at - (last_activity + 2.0)
    assert 0 <= late <= 2.5, (late, stalled)
    assert [e["verb"] for e in watch.events(worker="w1")] == [
        "create-worktree",
        "start-agent",
        "stop-agent",
        "phase Backoff",
    ]
    assert "restart in 60s" in stalled[0]["reason"]
    watch.signal(signal.SIGTERM)
    assert watch.wait(10) == 0


# -- report commits from the loop ----------------------------------------------------------


def test_watch_commits_the_first_report_then_holds_phase_changes_for_min_interval(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    configure(fleet, resync="1s", reports='commit: true, minInterval: 1h, author: "bot <b@x.y>"')
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    fleet.git(fleet.root, "add", "-A")
    fleet.git(fleet.root, "commit", "-q", "-m", "w1")

    def report_commits() -> list[str]:
        out = fleet.git(fleet.root, "log", "--format=%s|%an", "--", "reports").stdout
        return out.splitlines()

    watch = watch_thread()
    retry_until(lambda: report_commits()[:1] == ["orch: status: 1 running|bot"], 15)
    committed = report_commits()
    head = fleet.git(fleet.root, "show", "--name-only", "--format=", "HEAD").stdout.split()
    assert head == ["reports/status.md", "reports/workers/w1.md"]  # and its run report
    fleet.workers(["w1", "w2"])  # a phase change that is not urgent: it waits for minInterval
    retry_until(lambda: "w2" in alive_pids(fleet), 15, message="w2 started")
    seen = len(watch.passes)
    retry_until(lambda: len(watch.passes) >= seen + 3, 10, message="three more passes")
    assert report_commits() == committed
    # the work tree's report is the committed one: it is written only to be committed
    status = fleet.git(fleet.root, "status", "--porcelain", "--", "reports").stdout
    assert status == ""
    assert not [n for n in watch.notices() if n.startswith("warning")], watch.notices()
    watch.close()


# -- what the specs use, beside specs/ and config/ ----------------------------------------


def test_a_changed_items_file_or_prompt_template_reloads_the_specs(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    configure(fleet, resync="60s")  # only file events can bring these changes in time
    fleet.base("sleep.sh")  # an agent that writes nothing under .orch/ (no other pokes)
    fleet.write("data/items.yaml", "- {id: a}\n")
    fleet.write(
        "specs/set.yaml",
        fleet.dump(
            fleet.document(
                "WorkerSet",
                "s",
                {
                    "items": "data/items.yaml",
                    "nameTemplate": "w-{{ item.id }}",
                    "template": {"repo": "app", "pipeline": "p", "agent": "fake"},
                },
            )
        ),
    )
    watch = watch_thread()
    # The agent runs before its pass returns: wait for the pass to be recorded too.
    retry_until(lambda: "w-a" in alive_pids(fleet) and watch.passes, 20, message="w-a started")
    assert "data/items.yaml" in watch.passes[-1].desired.inputs
    assert "playbooks/prompts/stage.md.j2" in watch.passes[-1].desired.inputs

    fleet.write("data/items.yaml", "- {id: a}\n- {id: b}\n")  # an items file outside config/
    retry_until(lambda: "w-b" in alive_pids(fleet), 10, message="w-b after the items edit")

    time.sleep(1.0)  # let the starts' own file events settle: then only the edit pokes
    before = len(watch.passes)
    fleet.write("playbooks/prompts/stage.md.j2", "A new prompt for {{ worker }}.\n")
    # A pass long before the 60 s resync: the template's folder is watched.
    retry_until(lambda: len(watch.passes) > before, 10, message="a pass after the template edit")
    watch.close()
