"""Self-healing workers: stall, crash loop, timeouts, suspend, dependencies, durability.

Real tmux on a private socket, real git repos in ``tmp_path``, real processes as
fake agents (tests/agents/healing/). Time-based behaviour is driven by passing
explicit clocks to the engine (``clock=`` / ``now=``) rather than by sleeping.

Every agent gets ``HEAL_TAG=<token of this test>`` in its Agent ``env``; the
variable is inherited by every child (even one in its own session), so the test
finds an agent's processes in ``/proc/*/environ`` and kills leftovers at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.core.actions import Phase, Plan, Verb
from reconciler.drivers.git import init_repo
from reconciler.loop import engine
from reconciler.loop import operations as manual

AGENTS = Path(__file__).resolve().parents[1] / "agents" / "healing"
SESSION = "orch"
REPO = "app"
QUIET = ['"subtype":"api_retry"']
# The stage prompt: TASK-TEXT marks the original stage prompt inside a restart prompt.
PROMPT = (
    "TASK-TEXT for {{ worker }}: implement the parser (stage {{ stage }}, attempt {{ attempt }}).\n"
    "When done, write {{ signal_file }}; if it cannot be done, write {{ failed_file }}.\n"
)
FAST = {"maxRestarts": 3, "backoff": {"initial": "1s", "max": "4s"}}
WINDOW_FIELDS = (
    "session_name",
    "window_id",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "@orch-worker",
    "@orch-stage",
    "@orch-attempt",
)


# -- helpers -----------------------------------------------------------------------------


def stage(name: str = "work", **extra: Any) -> dict[str, Any]:
    """A stage that never stalls or times out by accident."""
    return {
        "name": name,
        "prompt": "prompts/stage.md.j2",
        "stallTimeout": "1h",
        "timeout": "2h",
        "doneWhen": "signal",
        **extra,
    }


def doc(kind: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "orch/v1", "kind": kind, "metadata": {"name": name}, "spec": dict(spec)}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True
    ).stdout


def proc_state(pid: int) -> str | None:
    """The state letter of ``pid`` from /proc (None: no such process)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()[0]


def alive(pid: int) -> bool:
    state = proc_state(pid)
    return state is not None and state != "Z"


def tagged_pids(tag: str, worker: str | None = None) -> set[int]:
    """Live processes whose environment holds HEAL_TAG=tag (and ORCH_WORKER=worker)."""
    want = {f"HEAL_TAG={tag}".encode()}
    if worker is not None:
        want.add(f"ORCH_WORKER={worker}".encode())
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            env = set(Path(entry.path, "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if want <= env and alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def orch_argv() -> list[str]:
    script = Path(sys.executable).parent / "orch"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from reconciler.cli.app import main; main()"]


def verbs(result: engine.PassResult) -> list[tuple[str, str]]:
    return [(e.verb, e.worker) for e in result.events]


@dataclass
class Ctl:
    """A control repo in tmp_path, its target repo, and the test's private tmux socket."""

    root: Path
    repo: Path
    socket: str
    tag: str
    modes: Path

    # -- specs ------------------------------------------------------------

    def agent(self, script: str, **fields: Any) -> dict[str, Any]:
        """An Agent spec running tests/agents/healing/<script>, tagged for /proc scans."""
        env = {"HEAL_TAG": self.tag, "HEAL_MODES": str(self.modes), **fields.pop("env", {})}
        return {"command": ["sh", str(AGENTS / script)], "env": env, **fields}

    def specs(
        self,
        *,
        agents: Mapping[str, Mapping[str, Any]] | None = None,
        stages: list[dict[str, Any]] | None = None,
        workers: Mapping[str, Mapping[str, Any]] | None = None,
        extra: list[dict[str, Any]] | None = None,
        setup: list[str] | None = None,
    ) -> None:
        """Write specs/fleet.yaml: Repo ``app``, the agents, Pipeline ``p``, the workers."""
        repo: dict[str, Any] = {"path": str(self.repo), "defaultBranch": "main"}
        if setup:
            repo["setup"] = setup
        docs = [doc("Repo", REPO, repo)]
        agents = agents or {"flex": self.agent("flex.sh")}
        docs += [doc("Agent", name, spec) for name, spec in agents.items()]
        docs.append(doc("Pipeline", "p", {"stages": stages or [stage()]}))
        default_agent = next(iter(agents))
        for name, fields in (workers or {}).items():
            spec = {"repo": REPO, "pipeline": "p", "agent": default_agent, **fields}
            docs.append(doc("Worker", name, spec))
        docs += extra or []
        (self.root / "specs" / "fleet.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))

    def mode(self, worker: str, stage_name: str, mode: str) -> None:
        """What flex.sh does for that worker and stage: hang, crash or signal."""
        (self.modes / f"{worker}-{stage_name}").write_text(mode)

    # -- the loop -----------------------------------------------------------

    def reconcile(self, at: float | None = None) -> engine.PassResult:
        """A reconcile in-process (clock fixed at ``at`` when given): a pass, and more while
        the agents it stops exit (as `orch reconcile` does); every event must succeed."""
        kwargs: dict[str, Any] = {"grace": 1.0}
        if at is not None:
            kwargs["clock"] = lambda: at
        result = engine.reconcile(engine.load(self.root), **kwargs)
        failed = [e for e in result.events if not e.ok]
        assert not failed, failed
        return result

    def plan(self, at: float | None = None) -> Plan:
        desired = engine.load(self.root)
        return engine.make_plan(desired, engine.snapshot(desired), now=at)

    # -- looking at the world --------------------------------------------------

    def windows(self) -> dict[str, dict[str, str]]:
        """Windows tagged @orch-worker in the fleet session, by worker (one each, asserted)."""
        # a plain list-panes: never `run-shell` here (see test_observation_never_hangs)
        done = subprocess.run(
            [
                "tmux",
                "-L",
                self.socket,
                "list-panes",
                "-a",
                "-F",
                "\t".join(f"#{{{f}}}" for f in WINDOW_FIELDS),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        if done.returncode != 0:
            return {}
        out: dict[str, dict[str, str]] = {}
        for line in done.stdout.splitlines():
            row = dict(zip(WINDOW_FIELDS, line.split("\t"), strict=True))
            if row["session_name"] == SESSION and row["@orch-worker"]:
                assert row["@orch-worker"] not in out, f"two windows for {row['@orch-worker']}"
                out[row["@orch-worker"]] = row
        return out

    def window(self, worker: str) -> dict[str, str] | None:
        return self.windows().get(worker)

    def dead(self, worker: str) -> Callable[[], dict[str, str] | None]:
        """Probe: the worker's window once its process has ended.

        tmux 3.3a built with libutempter sometimes misses the SIGCHLD of a process
        that exits at once: the pane is dead with no status and its process a
        zombie until orch's observation (``Tmux.reap``, a SIGCHLD to the server) makes tmux reap it.
        """

        def probe() -> dict[str, str] | None:
            row = self.window(worker)
            if not row or row["pane_dead"] != "1":
                return None
            return row if row["pane_dead_status"] or not alive(int(row["pane_pid"])) else None

        return probe

    def worktree(self, worker: str) -> Path:
        return (self.root / "worktrees" / REPO / worker).resolve()

    def state(self, worker: str) -> dict[str, Any]:
        return json.loads((self.root / "state" / "workers" / f"{worker}.json").read_text())

    def prompt_file(self, worker: str, stage_name: str, attempt: int) -> Path:
        return self.root / "state" / "logs" / worker / f"{stage_name}-{attempt}.prompt.md"

    def log(self, worker: str, stage_name: str, attempt: int) -> Path:
        return self.root / "state" / "logs" / worker / f"{stage_name}-{attempt}.log"

    def file(self, worker: str, rel: str) -> Callable[[], str | None]:
        """Probe: the text of a file in the worker's worktree, once it exists."""
        path = self.worktree(worker) / rel
        return lambda: path.read_text() if path.exists() else None

    def received(self, worker: str, name: str) -> Callable[[], str | None]:
        """Probe: what an agent recorded in .orch/received/<name> (prompt or args)."""
        return self.file(worker, f".orch/received/{name}")

    def starts(self, worker: str) -> int:
        """How many times flex.sh was started in the worker's worktree (prompts it recorded)."""
        folder = self.worktree(worker) / ".orch" / "received"
        return len(list(folder.glob("*.prompt"))) if folder.is_dir() else 0

    def signal(self, worker: str, stage_name: str, kind: str, summary: str = "") -> None:
        path = self.worktree(worker) / ".orch" / "signals" / f"{stage_name}.{kind}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"summary": summary or f"{stage_name} {kind}"}) + "\n")

    def procs(self, worker: str | None = None) -> set[int]:
        return tagged_pids(self.tag, worker)


@pytest.fixture
def ctl(
    tmp_path: Path, tmux_socket: str, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ctl]:
    """A control repo whose worktrees live outside state/ (so state/ can be deleted)."""
    monkeypatch.setenv("ORCH_TMUX_SOCKET", tmux_socket)
    root = tmp_path / "ctl"
    init_repo(root)
    (root / ".gitignore").write_text("state/\nworktrees/\n")
    (root / "config").mkdir()
    (root / "config" / "orch.yaml").write_text(
        f"tmux:\n  socket: {tmux_socket}\n  session: {SESSION}\nworktrees:\n  root: worktrees\n"
    )
    (root / "prompts").mkdir()
    (root / "prompts" / "stage.md.j2").write_text(PROMPT)
    (root / "specs").mkdir()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "control repo")
    modes = tmp_path / "modes"
    modes.mkdir()
    c = Ctl(root=root, repo=git_repo, socket=tmux_socket, tag=secrets.token_hex(8), modes=modes)
    yield c
    # the tmux_socket fixture kills the server afterwards; processes that left the
    # pane's session (setsid) would survive it, so kill everything tagged.
    for pid in tagged_pids(c.tag):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# -- 1. stall ----------------------------------------------------------------------------


def test_hanging_agent_is_stalled_stopped_backed_off_and_restarted_with_summary(
    ctl: Ctl, retry_until: Callable[..., Any]
) -> None:
    ctl.specs(
        agents={"hang": ctl.agent("hang_commit.sh", env={"HANG_SUBJECT": "parser skeleton"})},
        stages=[stage(stallTimeout="30s", timeout="1h")],
        workers={"w": {"restartPolicy": FAST}},
    )
    t0 = time.time()
    ctl.reconcile(at=t0)
    wt = ctl.worktree("w")
    subject = "heal: parser skeleton (attempt 1)"
    retry_until(
        lambda: subject in git(wt, "log", "--format=%s", "main..HEAD"), message="the agent's commit"
    )
    retry_until(
        lambda: "now hanging" in ctl.log("w", "work", 1).read_text(errors="replace"),
        message="the agent to hang",
    )
    window = ctl.window("w")
    assert window is not None
    pid = int(window["pane_pid"])
    assert alive(pid)

    # well inside stallTimeout: nothing to do
    assert ctl.plan(at=t0 + 20).actions == ()

    # past stallTimeout: stopped and put in Backoff
    result = ctl.reconcile(at=t0 + 100)
    assert verbs(result) == [("stop-agent", "w"), ("phase Backoff", "w")]
    assert result.events[0].reason.startswith("stalled: no activity for")
    retry_until(lambda: not alive(pid), message="the hanging agent to be gone")
    assert ctl.procs("w") == set()
    state = ctl.state("w")
    assert state["phase"] == "Backoff"
    assert state["reason"].startswith("stalled")
    assert state["backoff_until"] == pytest.approx(t0 + 101)  # backoff initial 1s
    assert ctl.window("w") is not None  # the window stays, dead, for the restart

    # still backing off
    assert ctl.reconcile(at=t0 + 100.5).events == ()
    assert ctl.plan(at=t0 + 100.5).statuses["w"].phase is Phase.BACKOFF

    # backoff over: attempt 2 with a restart prompt
    result = ctl.reconcile(at=t0 + 101.5)
    assert verbs(result) == [("start-agent", "w")]
    window = retry_until(lambda: (w := ctl.window("w")) and w["pane_dead"] == "0" and w)
    assert window["@orch-attempt"] == "2"
    state = ctl.state("w")
    assert (state["phase"], state["attempt"], state["restarts"]) == ("Running", 2, 1)
    prompt = ctl.prompt_file("w", "work", 2).read_text()
    assert subject in prompt  # the commit made before hanging
    assert "stalled" in prompt  # the reason
    assert "TASK-TEXT for w: implement the parser" in prompt  # the original stage prompt
    assert "parser skeleton is committed" in prompt  # the agent's progress notes
    assert "committed, now hanging" in prompt  # the tail of its output


# -- 2. crash loop -----------------------------------------------------------------------


def test_crash_loop_backs_off_with_growing_delays_then_fails_keeping_the_window(
    ctl: Ctl, retry_until: Callable[..., Any]
) -> None:
    policy = {"maxRestarts": 2, "backoff": {"initial": "1s", "max": "4s"}}
    ctl.specs(agents={"crash": ctl.agent("crash.sh")}, workers={"w": {"restartPolicy": policy}})
    now = time.time()
    ctl.reconcile(at=now)
    delays = []
    for attempt in (1, 2, 3):
        row = retry_until(ctl.dead("w"), message=f"attempt {attempt} to exit")
        assert row["@orch-attempt"] == str(attempt)
        now += 0.5
        result = ctl.reconcile(at=now)
        if attempt == 3:
            break
        assert result.events[-1].reason.startswith("crashed: exit 3"), result.events
        phases = [a for a in result.plan.actions if a.verb is Verb.SET_PHASE]
        assert [a.phase for a in phases] == [Phase.BACKOFF]
        assert phases[0].backoff_until is not None
        delays.append(phases[0].backoff_until - now)
        state = ctl.state("w")
        assert state["phase"] == "Backoff"
        assert state["reason"].startswith("crashed: exit 3")
        assert state["backoff_until"] - now == pytest.approx(delays[-1])
        assert state["restarts"] == attempt - 1
        # just before the end of the backoff: nothing happens
        assert ctl.reconcile(at=state["backoff_until"] - 0.1).events == ()
        now = state["backoff_until"] + 0.1
        result = ctl.reconcile(at=now)
        assert verbs(result) == [("start-agent", "w")]
        assert ctl.state("w")["attempt"] == attempt + 1
    assert delays == [1.0, 2.0]

    # third crash: over maxRestarts -> Failed, window kept for a person to look at
    assert verbs(result) == [("phase Failed", "w")]
    state = ctl.state("w")
    assert state["phase"] == "Failed"
    assert state["reason"] == "crashed: exit 3 (gave up after 2 restart(s))"
    assert (state["attempt"], state["restarts"]) == (3, 2)
    window = ctl.window("w")
    assert window is not None and window["pane_dead"] == "1"
    for attempt in (1, 2, 3):
        assert ctl.log("w", "work", attempt).is_file()
    # and it stays Failed
    later = ctl.reconcile(at=now + 1000)
    assert later.events == ()
    assert later.plan.statuses["w"].phase is Phase.FAILED
    assert ctl.window("w") is not None


# -- 3. process trees --------------------------------------------------------------------


def _children(ctl: Ctl, retry_until: Callable[..., Any], attempt: int) -> list[int]:
    text = retry_until(
        ctl.file("w", f".orch/children-{attempt}.pids"), message=f"children of attempt {attempt}"
    )
    pids = [int(x) for x in text.split()]
    assert len(pids) == 4  # the agent, two background sleeps, one setsid sleep
    assert all(alive(p) for p in pids)
    own = Path(f"/proc/{pids[3]}/stat").read_text()
    assert int(own[own.rfind(")") + 2 :].split()[3]) == pids[3]  # its own session
    return pids


def test_suspended_agent_leaves_no_process_behind(
    ctl: Ctl, retry_until: Callable[..., Any]
) -> None:
    ctl.specs(agents={"kids": ctl.agent("children.sh")}, workers={"w": {}})
    ctl.reconcile()
    pids = _children(ctl, retry_until, 1)

    ctl.specs(agents={"kids": ctl.agent("children.sh")}, workers={"w": {"suspend": True}})
    result = ctl.reconcile()
    assert verbs(result) == [("stop-agent", "w"), ("phase Suspended", "w")]
    assert [p for p in pids if alive(p)] == []
    assert ctl.procs("w") == set()


def test_stall_restart_leaves_no_process_of_the_old_attempt(
    ctl: Ctl, retry_until: Callable[..., Any]
) -> None:
    ctl.specs(
        agents={"kids": ctl.agent("children.sh")},
        stages=[stage(stallTimeout="30s")],
        workers={"w": {"restartPolicy": FAST}},
    )
    t0 = time.time()
    ctl.reconcile(at=t0)
    first = _children(ctl, retry_until, 1)
    ctl.reconcile(at=t0 + 100)  # stalled: stop, Backoff
    # TERM reaches the whole tree at once; each process still takes a moment to exit.
    retry_until(lambda: [p for p in first if alive(p)] == [], message="attempt 1's tree gone")
    assert verbs(ctl.reconcile(at=t0 + 102)) == [("start-agent", "w")]
    second = _children(ctl, retry_until, 2)
    assert [p for p in first if alive(p)] == []
    retry_until(lambda: ctl.procs("w") == set(second), message="only attempt 2's processes")


# -- 4. resume with a session id ---------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "line", "session"),
    [
        ("regex:session=(\\S+)", "session=abc123", "abc123"),
        (
            "claude-stream-json",
            '{"type":"system","subtype":"init","cwd":"/x","session_id":"5f0c-abc","tools":[]}',
            "5f0c-abc",
        ),
    ],
    ids=["regex", "claude-stream-json"],
)
def test_restart_resumes_the_session_with_the_restart_prompt_on_stdin(
    ctl: Ctl, retry_until: Callable[..., Any], how: str, line: str, session: str
) -> None:
    agent = ctl.agent(
        "session.sh",
        env={"SESSION_LINE": line},
        sessionIdFrom=how,
        resume=["sh", str(AGENTS / "resume.sh"), "{{ session_id }}"],
    )
    ctl.specs(agents={"resumable": agent}, workers={"w": {"restartPolicy": FAST}})
    t0 = time.time()
    ctl.reconcile(at=t0)
    retry_until(ctl.dead("w"), message="the first attempt to crash")
    first = ctl.received("w", "command-1.prompt")()
    assert first is not None and "TASK-TEXT" in first and "resuming" not in first
    retry_until(
        lambda: line in ctl.log("w", "work", 1).read_text(errors="replace"),
        message="the session line in the log",
    )
    assert verbs(ctl.reconcile(at=t0 + 1)) == [("phase Backoff", "w")]

    result = ctl.reconcile(at=t0 + 2.5)
    assert verbs(result) == [("start-agent", "w")]
    assert result.events[0].detail.get("resumed") == session
    # resume.sh moves its prompt record into place last
    stdin = retry_until(ctl.received("w", "resume-2.prompt"), message="resume.sh to start")
    args = ctl.received("w", "resume-2.args")()
    assert args is not None and args.splitlines() == [session]
    assert "You are resuming work" in stdin
    assert "crashed: exit 3" in stdin
    assert "TASK-TEXT for w" in stdin
    assert stdin == ctl.prompt_file("w", "work", 2).read_text()
    assert ctl.state("w")["session_id"] == session


# -- 5. timeout per attempt --------------------------------------------------------------


def test_timeout_counts_from_the_attempt_start_not_the_stage_start(
    ctl: Ctl, retry_until: Callable[..., Any]
) -> None:
    ctl.specs(
        stages=[stage(timeout="60s", stallTimeout="1h")], workers={"w": {"restartPolicy": FAST}}
    )
    t0 = time.time()
    ctl.reconcile(at=t0)
    retry_until(ctl.received("w", "work-1.prompt"))
    assert ctl.plan(at=t0 + 59).actions == ()

    result = ctl.reconcile(at=t0 + 61)
    assert verbs(result) == [("stop-agent", "w"), ("phase Backoff", "w")]
    assert result.events[0].reason == "over time: attempt ran 61s (timeout 60s)"
    t1 = t0 + 62.5
    assert verbs(ctl.reconcile(at=t1)) == [("start-agent", "w")]
    state = ctl.state("w")
    assert state["attempt_started_at"] == pytest.approx(t1)
    assert state["stage_started_at"] == pytest.approx(t0)
    retry_until(ctl.received("w", "work-2.prompt"))

    # the stage started 112 s ago, the attempt 50 s ago: not over time
    later = ctl.reconcile(at=t1 + 50)
    assert later.events == ()
    assert later.plan.statuses["w"].phase is Phase.RUNNING
    # and the new attempt does time out after its own 60 s
    result = ctl.reconcile(at=t1 + 61)
    assert verbs(result) == [("stop-agent", "w"), ("phase Backoff", "w")]
    assert result.events[0].reason == "over time: attempt ran 61s (timeout 60s)"


# -- 6. quiet patterns -------------------------------------------------------------------


def test_quiet_lines_do_not_count_as_activity(ctl: Ctl, retry_until: Callable[..., Any]) -> None:
    ctl.specs(
        agents={
            "quiet": ctl.agent("quiet.sh", quietPatterns=QUIET),
            "busy": ctl.agent("busy.sh", quietPatterns=QUIET),
        },
        stages=[stage(stallTimeout="30s", timeout="1h")],
        workers={"q": {"agent": "quiet"}, "b": {"agent": "busy"}},
    )
    past = time.time() - 100
    ctl.reconcile(at=past)  # both attempts "started" 100 s ago
    for name in ("q", "b"):  # ... and their worktrees were made then too
        gitdir = (ctl.worktree(name) / ".git").read_text().split(":", 1)[1].strip()
        os.utime(Path(gitdir) / "logs" / "HEAD", (past, past))

    def lines(name: str) -> int:
        path = ctl.log(name, "work", 1)
        return path.read_text(errors="replace").count("\n") if path.exists() else 0

    retry_until(lambda: lines("q") >= 5 and lines("b") >= 10, message="both agents to print")
    # the quiet agent's log keeps growing: its mtime alone would look like progress
    assert time.time() - ctl.log("q", "work", 1).stat().st_mtime < 5

    the_plan = ctl.plan()
    assert the_plan.statuses["q"].phase is Phase.BACKOFF
    assert the_plan.statuses["q"].reason.startswith("stalled")
    assert the_plan.statuses["b"].phase is Phase.RUNNING
    assert {a.worker for a in the_plan.actions} == {"q"}

    result = ctl.reconcile()
    assert verbs(result) == [("stop-agent", "q"), ("phase Backoff", "q")]
    assert ctl.procs("q") == set()
    assert ctl.procs("b")
    assert ctl.window("b")["pane_dead"] == "0"  # type: ignore[index]


# -- 7. suspend and resume ---------------------------------------------------------------


def test_suspend_stops_and_keeps_everything_then_resume_restarts_the_stage(
    ctl: Ctl, retry_until: Callable[..., Any]
) -> None:
    ctl.specs(workers={"w": {}})
    ctl.reconcile()
    retry_until(ctl.received("w", "work-1.prompt"))
    (ctl.worktree("w") / "wip.txt").write_text("work in progress\n")
    pids = ctl.procs("w")
    assert pids

    ctl.specs(workers={"w": {"suspend": True}})
    result = ctl.reconcile()
    assert verbs(result) == [("stop-agent", "w"), ("phase Suspended", "w")]
    assert [p for p in pids if alive(p)] == []
    assert (ctl.worktree("w") / "wip.txt").read_text() == "work in progress\n"
    state = ctl.state("w")
    assert (state["phase"], state["stage"], state["attempt"]) == ("Suspended", "work", 1)
    assert ctl.reconcile().events == ()  # stays suspended, nothing restarted
    assert ctl.plan().statuses["w"].phase is Phase.SUSPENDED
    assert ctl.procs("w") == set()

    ctl.specs(workers={"w": {"suspend": False}})
    result = ctl.reconcile()
    assert verbs(result) == [("start-agent", "w")]
    assert result.events[0].reason == "resumed after suspend"
    received = retry_until(ctl.received("w", "work-2.prompt"), message="the resumed attempt")
    assert "resuming" in received
    assert "resumed after suspend" in received
    assert "TASK-TEXT for w" in received
    assert "wip.txt" in received  # the untracked file the first attempt left
    state = ctl.state("w")
    assert (state["phase"], state["stage"], state["attempt"]) == ("Running", "work", 2)
    assert ctl.plan().actions == ()


# -- 8. dependsOn ------------------------------------------------------------------------


def test_depends_on_waits_for_success_and_blocks_on_failure(ctl: Ctl) -> None:
    ctl.specs(workers={"a": {}, "b": {"dependsOn": ["a"]}, "c": {}, "d": {"dependsOn": ["c"]}})
    result = ctl.reconcile()
    assert set(ctl.windows()) == {"a", "c"}
    statuses = result.plan.statuses
    assert statuses["b"].phase is Phase.WAITING and "a" in statuses["b"].reason
    assert statuses["d"].phase is Phase.WAITING
    assert not ctl.worktree("b").exists() and not ctl.worktree("d").exists()
    assert ctl.reconcile().events == ()  # still waiting

    ctl.signal("a", "work", "done")
    ctl.signal("c", "work", "failed", "cannot build")
    result = ctl.reconcile()
    assert result.plan.statuses["a"].phase is Phase.SUCCEEDED
    assert result.plan.statuses["c"].phase is Phase.FAILED
    # b started (its last pass may already see it Running: a and c were stopped first)
    assert result.plan.statuses["b"].phase in (Phase.PROVISIONING, Phase.RUNNING)
    assert ctl.window("b") is not None and ctl.window("b")["pane_dead"] == "0"  # type: ignore[index]

    result = ctl.reconcile()
    assert result.plan.statuses["d"].phase is Phase.BLOCKED
    assert result.plan.statuses["d"].reason == "dependency failed: c"
    assert ctl.window("d") is None
    assert not ctl.worktree("d").exists()
    assert result.plan.statuses["b"].phase is Phase.RUNNING


# -- 9. WorkerSet parallelism ------------------------------------------------------------


def test_worker_set_parallelism_queues_in_item_order(ctl: Ctl) -> None:
    items = ["d", "c", "b", "a"]  # item order differs from name order on purpose
    ws = doc(
        "WorkerSet",
        "jobs",
        {
            "items": items,
            "nameTemplate": "job-{{ item }}",
            "parallelism": 2,
            "template": {"repo": REPO, "pipeline": "p", "agent": "flex"},
        },
    )
    ctl.specs(extra=[ws])
    result = ctl.reconcile()
    assert set(ctl.windows()) == {"job-d", "job-c"}
    phases = {n: s.phase for n, s in result.plan.statuses.items()}
    assert phases == {
        "job-d": Phase.PROVISIONING,
        "job-c": Phase.PROVISIONING,
        "job-b": Phase.QUEUED,
        "job-a": Phase.QUEUED,
    }
    assert ctl.reconcile().events == ()
    assert set(ctl.windows()) == {"job-d", "job-c"}

    ctl.signal("job-c", "work", "done")
    result = ctl.reconcile()
    assert result.plan.statuses["job-c"].phase is Phase.SUCCEEDED
    assert result.plan.statuses["job-a"].phase is Phase.QUEUED
    running = {n for n, w in ctl.windows().items() if w["pane_dead"] == "0"}
    assert running == {"job-d", "job-b"}

    ctl.signal("job-d", "work", "done")
    ctl.reconcile()
    running = {n for n, w in ctl.windows().items() if w["pane_dead"] == "0"}
    assert running == {"job-b", "job-a"}


# -- 10. orch restart --------------------------------------------------------------------


def test_manual_restart_of_a_failed_worker_and_restart_at_an_earlier_stage(
    ctl: Ctl, retry_until: Callable[..., Any]
) -> None:
    ctl.specs(
        stages=[stage("plan"), stage("build")],
        workers={
            "w": {"restartPolicy": {"maxRestarts": 1, "backoff": {"initial": "1s", "max": "4s"}}}
        },
    )
    ctl.mode("w", "build", "crash")
    t = time.time()
    ctl.reconcile(at=t)
    retry_until(ctl.received("w", "plan-1.prompt"))
    ctl.signal("w", "plan", "done")
    assert verbs(ctl.reconcile(at=t + 1)) == [("stop-agent", "w"), ("start-agent", "w")]
    retry_until(ctl.dead("w"), message="build attempt 1 to crash")
    assert verbs(ctl.reconcile(at=t + 2)) == [("phase Backoff", "w")]
    assert verbs(ctl.reconcile(at=t + 3.5)) == [("start-agent", "w")]
    row = retry_until(ctl.dead("w"), message="build attempt 2 to crash")
    assert row["@orch-attempt"] == "2"
    ctl.reconcile(at=t + 4)
    state = ctl.state("w")
    assert (state["phase"], state["stage"], state["restarts"]) == ("Failed", "build", 1)

    ctl.mode("w", "build", "hang")
    events = manual.restart_worker(ctl.root, "w", None)
    assert [(e.verb, e.ok) for e in events] == [("start-agent", True)]
    state = ctl.state("w")
    assert (state["phase"], state["stage"], state["attempt"], state["restarts"]) == (
        "Running",
        "build",
        3,
        0,
    )
    received = retry_until(ctl.received("w", "build-3.prompt"))
    assert "restart requested" in received
    assert ctl.window("w")["pane_dead"] == "0"  # type: ignore[index]
    assert ctl.plan().actions == ()  # the loop agrees with the manual restart

    # finish build, then restart from plan with the CLI: later signals are removed
    ctl.signal("w", "build", "done")
    assert ctl.reconcile().plan.statuses["w"].phase is Phase.SUCCEEDED
    done = subprocess.run(
        [*orch_argv(), "--root", str(ctl.root), "restart", "w", "--stage", "plan"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    signals = ctl.worktree("w") / ".orch" / "signals"
    assert not (signals / "plan.done").exists()
    assert not (signals / "build.done").exists()
    window = retry_until(lambda: (w := ctl.window("w")) and w["pane_dead"] == "0" and w)
    assert window["@orch-stage"] == "plan"
    state = ctl.state("w")
    assert (state["phase"], state["stage"], state["restarts"]) == ("Running", "plan", 0)
    the_plan = ctl.plan()
    assert the_plan.actions == ()
    assert the_plan.statuses["w"].stage == "plan"


# -- 11. durability ----------------------------------------------------------------------


FOUR = ("w1", "w2", "w3", "w4")


def _converged(ctl: Ctl, retry_until: Callable[..., Any]) -> None:
    """One window and one agent process per worker, each started exactly once."""
    windows = ctl.windows()
    assert sorted(windows) == list(FOUR)
    assert all(w["pane_dead"] == "0" for w in windows.values())
    for name in FOUR:
        retry_until(lambda n=name: ctl.starts(n) >= 1, message=f"the agent of {name} to start")
        retry_until(
            lambda n=name: len(ctl.procs(n)) == 1, message=f"exactly one agent process of {name}"
        )
        assert ctl.starts(name) == 1, name
    assert ctl.plan().actions == ()


@pytest.mark.parametrize("kill_at", ["first-state", "two-worktrees", "first-window"])
def test_reconciler_killed_mid_pass_converges_without_duplicates(
    ctl: Ctl, retry_until: Callable[..., Any], kill_at: str
) -> None:
    # a slow `git worktree add` (0.2 s each) spreads the pass out so each kill point is
    # hit mid-way
    ctl.specs(workers={n: {} for n in FOUR})
    slow = {
        "GIT_PYTHON_GIT_EXECUTABLE": str(AGENTS.parent / "watch" / "slow_git.sh"),
        "REAL_GIT": shutil.which("git") or "git",
        "SLOW_GIT_MATCH": "/app/w",
        "SLOW_GIT_SECONDS": "0.2",
    }
    proc = subprocess.Popen(
        [*orch_argv(), "--root", str(ctl.root), "reconcile"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **slow},
    )
    states = ctl.root / "state" / "workers"
    # New windows open together at the end of a pass, after every worktree and setup.
    probes = {
        "first-state": lambda: states.is_dir() and any(states.glob("*.json")),
        "two-worktrees": lambda: sum((ctl.worktree(n) / ".git").exists() for n in FOUR) >= 2,
        "first-window": lambda: len(ctl.windows()) >= 1,
    }
    try:
        retry_until(probes[kill_at], seconds=30, interval=0.005, message=kill_at)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    running = [
        f for f in states.glob("*.json") if json.loads(f.read_text())["phase"] == "Running"
    ]
    if kill_at != "first-window":  # the windows and their records come within ms
        assert len(running) < len(FOUR)  # killed before the pass was done

    ctl.reconcile()
    _converged(ctl, retry_until)


def test_setup_cut_short_runs_again_before_the_agent(
    ctl: Ctl, retry_until: Callable[..., Any]
) -> None:
    # Setup runs in the worker's window: killing the window's processes mid-setup is
    # a failed attempt, and the restart runs the setup again before the agent.
    ctl.specs(
        workers={"w1": {"restartPolicy": {"backoff": {"initial": "1s", "max": "1s"}}}},
        setup=["echo $$ >> .orch/setup.pids && sleep 1 && touch setup-done"],
    )
    ctl.reconcile()
    pids = ctl.worktree("w1") / ".orch" / "setup.pids"
    retry_until(lambda: pids.exists() and pids.read_text().strip(), message="setup to begin")
    os.kill(int(ctl.window("w1")["pane_pid"]), signal.SIGKILL)  # type: ignore[index]
    retry_until(ctl.dead("w1"), message="the window to die mid-setup")
    assert not (ctl.worktree("w1") / "setup-done").exists()

    def started() -> object:
        ctl.reconcile()
        return ctl.received("w1", "work-2.prompt")()

    retry_until(started, seconds=15, message="the agent to start after the setup ran again")
    assert (ctl.worktree("w1") / "setup-done").exists(), "the agent started without setup"
    assert len(pids.read_text().split()) == 2  # the setup ran twice
    assert not (ctl.worktree("w1") / ".orch" / "received" / "work-1.prompt").exists()


def test_deleting_state_loses_no_worker_and_starts_nothing_twice(
    ctl: Ctl, retry_until: Callable[..., Any]
) -> None:
    ctl.specs(stages=[stage("plan"), stage("build")], workers={n: {} for n in FOUR})
    ctl.mode("w1", "plan", "signal")
    ctl.reconcile()
    retry_until(lambda: (ctl.worktree("w1") / ".orch" / "signals" / "plan.done").exists())
    assert verbs(ctl.reconcile()) == [("stop-agent", "w1"), ("start-agent", "w1")]
    retry_until(ctl.received("w1", "build-1.prompt"))
    for name in FOUR:
        retry_until(ctl.received(name, "plan-1.prompt"))
        retry_until(lambda n=name: len(ctl.procs(n)) == 1)
    before = {n: w["pane_pid"] for n, w in ctl.windows().items()}
    starts = {n: ctl.starts(n) for n in FOUR}

    subprocess.run(["rm", "-rf", str(ctl.root / "state")], check=True)
    result = ctl.reconcile()
    assert [e for e in result.events if e.verb in ("start-agent", "stop-agent")] == []
    assert {n: w["pane_pid"] for n, w in ctl.windows().items()} == before
    assert {n: ctl.starts(n) for n in FOUR} == starts
    statuses = result.plan.statuses
    assert {n: (s.phase, s.stage, s.attempt) for n, s in statuses.items()} == {
        "w1": (Phase.RUNNING, "build", 1),
        "w2": (Phase.RUNNING, "plan", 1),
        "w3": (Phase.RUNNING, "plan", 1),
        "w4": (Phase.RUNNING, "plan", 1),
    }
    for name in FOUR:
        assert len(ctl.procs(name)) == 1

    # the loop goes on from what it observed: w2 finishes plan, starts build once
    ctl.signal("w2", "plan", "done")
    assert verbs(ctl.reconcile()) == [("stop-agent", "w2"), ("start-agent", "w2")]
    retry_until(ctl.received("w2", "build-1.prompt"))
    assert ctl.plan().actions == ()
    assert ctl.starts("w2") == starts["w2"] + 1


# -- observation must not hang ------------------------------------------------------------


def test_observation_does_not_hang_while_agents_die(tmux_socket: str, tmp_path: Path) -> None:
    """Agents that crash at once, restarted as soon as they are seen dead, as orch does."""
    import threading

    from reconciler.core.observed import PANE_FORMAT, parse_panes
    from reconciler.drivers.tmux import Tmux

    tm = Tmux(tmux_socket)
    tm.ensure_session(SESSION)
    command = f"exec sh {AGENTS / 'crash.sh'} < /dev/null"
    for i in range(1, 5):
        tm.start_window(
            SESSION,
            i,
            f"w{i}",
            str(tmp_path),
            command,
            {},
            str(tmp_path / f"{i}.log"),
            {"@orch-worker": f"w{i}"},
        )
    deadline = time.monotonic() + 40
    rounds = 0
    while time.monotonic() < deadline:
        box: dict[str, Any] = {}

        def observe(out: dict[str, Any] = box) -> None:
            out["panes"] = parse_panes(tm.list_panes(PANE_FORMAT))

        observer = threading.Thread(target=observe, daemon=True)
        observer.start()
        observer.join(3)
        if observer.is_alive():
            server = int(tm.run("display-message", "-p", "#{pid}")[0])
            os.kill(server, signal.SIGCHLD)  # what unblocks it: tmux reaps, run-shell ends
            observer.join(5)
            pytest.fail(
                f"Tmux.list_panes was stuck for 3 s after {rounds} passes "
                "(a SIGCHLD to the tmux server freed it)"
            )
        rounds += 1
        for pane in box["panes"]:
            if pane.worker and pane.dead:
                tm.respawn_window(
                    pane.window_id,
                    str(tmp_path),
                    command,
                    {},
                    str(tmp_path / f"{pane.worker}.log"),
                    {},
                )
