"""Fixtures for the fleet integration tests: a control repo, a target repo, real tmux.

``fleet`` builds, in ``tmp_path``, a control repo (``ctl/``) whose specs point at
a separate target repo (``repo/``, from the ``git_repo`` fixture) and whose
agents are the small scripts in ``tests/agents/``. The fleet runs on the test's
private tmux socket (``ORCH_TMUX_SOCKET`` and ``config/orch.yaml`` both name it),
so the user's own tmux server is never contacted.

Helpers run a pass in-process (``fleet.reconcile()``), plan, read status rows,
list tmux windows and worktrees, and run the real ``orch`` CLI in a subprocess
(``fleet.cli(...)``, which also checks that no traceback is ever printed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.core.actions import Plan
from reconciler.core.model import Desired
from reconciler.core.rows import status_rows
from reconciler.drivers.git import init_repo
from reconciler.drivers.tmux import Tmux
from reconciler.loop import engine
from reconciler.loop.events import Event
from reconciler.loop.watch import StopFlag, Trigger, watch_loop

AGENTS = Path(__file__).resolve().parents[1] / "agents"
SESSION = "orch"
REPO = "app"
# The stage prompt every test pipeline uses: names what a test asserts on.
PROMPT = """\
Worker {{ worker }}, stage {{ stage }} ({{ stage_index + 1 }} of {{ stages | length }}), \
attempt {{ attempt }}.
{% for key, value in vars | dictsort %}var {{ key }} = {{ value }}
{% endfor %}\
When done, write {{ signal_file }}; if it cannot be done, write {{ failed_file }}.
"""
WINDOW_FIELDS = (
    "session_name",
    "window_index",
    "window_id",
    "window_name",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "@orch-worker",
    "@orch-stage",
    "@orch-attempt",
    "@orch-spec",
    "pane_dead_signal",
    "pid",
)
_SEP = "\t"


def agent_path(script: str) -> str:
    """Absolute path of a fake agent script in tests/agents/."""
    path = AGENTS / script
    assert path.is_file(), path
    return str(path)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git in ``cwd`` (test-side checks; never the driver under test)."""
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=check
    )


def document(kind: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """One orch/v1 resource."""
    return {"apiVersion": "orch/v1", "kind": kind, "metadata": {"name": name}, "spec": dict(spec)}


def dump(*docs: Mapping[str, Any]) -> str:
    """Documents as multi-document YAML."""
    return yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False)


def stage(
    name: str,
    *,
    done_when: str = "signal",
    prompt: str = "playbooks/prompts/stage.md.j2",
    **extra: Any,
) -> dict[str, Any]:
    """A pipeline stage with long timeouts (nothing stalls by accident)."""
    return {
        "name": name,
        "prompt": prompt,
        "stallTimeout": "10m",
        "timeout": "20m",
        "doneWhen": done_when,
        **extra,
    }


@dataclass
class Fleet:
    """A control repo under test, its target repo and its private tmux socket.

    Test modules do not import this file (tests/ is no package): the constants
    and helpers they need are attributes of the fixture's value.
    """

    root: Path
    repo: Path
    socket: str
    tmp: Path

    session = SESSION
    repo_name = REPO
    agents_dir = AGENTS
    stage = staticmethod(stage)
    git = staticmethod(git)
    document = staticmethod(document)
    dump = staticmethod(dump)

    # -- writing specs -----------------------------------------------------

    def write(self, rel: str, text: str) -> Path:
        """Write ``text`` (dedented) to ``root/rel``."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def settings(
        self, reconcile: str = "", *, reports: str = "commit: false", tmux: str = "",
        extra: str = "",
    ) -> Path:
        """config/orch.yaml: the test's tmux socket and session, then ``reconcile`` and
        ``reports`` as flow mappings' contents (``"resync: 1s, debounce: 100ms"``), then
        ``extra`` (more YAML as it is)."""
        lines = [f"tmux: {{socket: {self.socket}, session: {self.session}"
                 + (f", {tmux}}}" if tmux else "}")]  # fmt: skip
        if reconcile:
            lines.append(f"reconcile: {{{reconcile}}}")
        lines.append(f"reports: {{{reports}}}")
        return self.write("config/orch.yaml", "\n".join(lines) + "\n" + textwrap.dedent(extra))

    def base(
        self,
        agent: str = "sleep.sh",
        *,
        args: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        stages: Iterable[Mapping[str, Any]] | None = None,
        setup: Iterable[str] = (),
        agents: Mapping[str, str] | None = None,
    ) -> None:
        """specs/base.yaml: Repo ``app``, Agent ``fake`` (and ``agents``), Pipeline ``p``."""
        repo_spec: dict[str, Any] = {"path": str(self.repo), "defaultBranch": "main"}
        if setup:
            repo_spec["setup"] = list(setup)
        docs = [document("Repo", REPO, repo_spec)]
        for name, script in {"fake": agent, **(agents or {})}.items():
            spec: dict[str, Any] = {"command": ["sh", agent_path(script), *args]}
            if env:
                spec["env"] = dict(env)
            docs.append(document("Agent", name, spec))
        docs.append(document("Pipeline", "p", {"stages": list(stages or [stage("work")])}))
        self.write("specs/base.yaml", dump(*docs))

    def workers(
        self,
        workers: Iterable[str] | Mapping[str, Mapping[str, Any]],
        file: str = "specs/workers.yaml",
    ) -> None:
        """Worker documents (name -> extra spec fields) into one file; none: an empty file."""
        items = workers if isinstance(workers, Mapping) else {n: {} for n in workers}
        docs = [
            document("Worker", name, {"repo": REPO, "pipeline": "p", "agent": "fake", **extra})
            for name, extra in items.items()
        ]
        self.write(file, dump(*docs) if docs else "# no workers\n")

    # -- running the loop in-process ---------------------------------------

    def load(self) -> Desired:
        """The validated desired state (raises SpecErrors)."""
        return engine.load(self.root)

    def reconcile(
        self,
        *,
        allow_mass_prune: bool = False,
        clock: Callable[[], float] | None = None,
        check: bool = True,
        once: bool = False,
    ) -> engine.PassResult:
        """A reconcile as the CLI runs it, in-process: one pass, and more while agents stop.

        With ``check``, every event succeeds; ``once`` runs exactly one pass.
        """
        kwargs: dict[str, Any] = {"allow_mass_prune": allow_mass_prune, "grace": 1.0}
        if clock is not None:
            kwargs["clock"] = clock
        run = engine.reconcile_pass if once else engine.reconcile
        result = run(self.load(), **kwargs)
        failed = [e for e in result.events if not e.ok]
        assert not (check and failed), failed
        return result

    def plan(self, *, allow_mass_prune: bool = False) -> Plan:
        """The plan for now (changes nothing)."""
        desired = self.load()
        return engine.make_plan(
            desired, engine.snapshot(desired), allow_mass_prune=allow_mass_prune
        )

    def status(self) -> dict[str, dict[str, Any]]:
        """Status rows by worker name."""
        desired = self.load()
        observed = engine.snapshot(desired)
        rows = status_rows(desired, observed, engine.make_plan(desired, observed))
        return {row["name"]: row for row in rows}

    # -- observing, test-side ----------------------------------------------

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``tmux -L <socket> args`` (the test's private server only)."""
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def windows(self) -> list[dict[str, str]]:
        """Every window of the private server (first pane), as dicts of WINDOW_FIELDS."""
        fmt = _SEP.join(f"#{{{f}}}" for f in WINDOW_FIELDS)
        done = self.tmux("list-panes", "-a", "-F", fmt, check=False)
        if done.returncode != 0:
            return []  # no server
        lost = [
            line.split(_SEP) for line in done.stdout.splitlines()
            if (r := dict(zip(WINDOW_FIELDS, line.split(_SEP), strict=True)))["pane_dead"] == "1"
            and not r["pane_dead_status"] and not r["pane_dead_signal"]
        ]  # fmt: skip
        if lost:  # tmux missed an exit: nudge it, as reconciler/loop/observe.py does
            Tmux.reap(int(lost[0][WINDOW_FIELDS.index("pid")]))
            done = self.tmux("list-panes", "-a", "-F", fmt, check=False)
        rows, seen = [], set()
        for line in done.stdout.splitlines():
            row = dict(zip(WINDOW_FIELDS, line.split(_SEP), strict=True))
            if row["window_id"] not in seen:
                seen.add(row["window_id"])
                rows.append(row)
        return rows

    def window(self, worker: str) -> dict[str, str] | None:
        """The window orch owns for ``worker`` (tagged @orch-worker, in the fleet session)."""
        found = [
            w
            for w in self.windows()
            if w["session_name"] == SESSION and w["@orch-worker"] == worker
        ]
        assert len(found) <= 1, found
        return found[0] if found else None

    def owned(self) -> dict[str, dict[str, str]]:
        """Windows tagged @orch-worker in the fleet session, by worker."""
        return {
            w["@orch-worker"]: w
            for w in self.windows()
            if w["session_name"] == SESSION and w["@orch-worker"]
        }

    def dead_window(self, worker: str) -> Callable[[], dict[str, str] | None]:
        """A probe for retry_until: the worker's window once its process ended and was reaped."""

        def probe() -> dict[str, str] | None:
            row = self.window(worker)
            return row if row and row["pane_dead"] == "1" and row["pane_dead_status"] else None

        return probe

    def worktrees(self) -> dict[str, str | None]:
        """The target repo's worktrees: resolved path -> branch (None when detached)."""
        out: dict[str, str | None] = {}
        path = None
        for line in git(self.repo, "worktree", "list", "--porcelain").stdout.splitlines():
            key, _, value = line.partition(" ")
            if key == "worktree":
                path = str(Path(value).resolve())
                out[path] = None
            elif key == "branch" and path:
                out[path] = value.removeprefix("refs/heads/")
        return out

    def worktree(self, worker: str) -> Path:
        """Where orch puts ``worker``'s worktree."""
        return (self.root / "worktrees" / REPO / worker).resolve()

    def state(self, worker: str) -> dict[str, Any]:
        """state/workers/<worker>.json."""
        return json.loads((self.root / "state" / "workers" / f"{worker}.json").read_text())

    def logs(self, worker: str) -> Path:
        """state/logs/<worker>/."""
        return self.root / "state" / "logs" / worker

    def received(self, worker: str, stage_name: str, attempt: int) -> Callable[[], str | None]:
        """A probe: the prompt record_prompt.sh received on stdin for that attempt."""
        path = self.worktree(worker) / ".orch" / "received" / f"{stage_name}-{attempt}.prompt"
        return lambda: path.read_text() if path.exists() else None

    def received_args(self, worker: str, stage_name: str, attempt: int) -> list[str]:
        """The argv (after the script) record_prompt.sh was started with."""
        path = self.worktree(worker) / ".orch" / "received" / f"{stage_name}-{attempt}.args"
        return path.read_text().splitlines()

    # -- the real CLI --------------------------------------------------------

    def cli(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """``orch --root ROOT args...`` in a subprocess; never a traceback in its output."""
        import os

        full_env = {**os.environ, "ORCH_TMUX_SOCKET": self.socket, **(env or {})}
        done = subprocess.run(
            [*orch_argv(), "--root", str(self.root), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert "Traceback" not in done.stdout + done.stderr, done
        return done


def orch_argv() -> list[str]:
    """How to run the `orch` console script of this environment."""
    script = Path(sys.executable).parent / "orch"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from reconciler.cli.app import main; main()"]


@pytest.fixture
def fleet_factory(
    tmp_path: Path, tmux_socket: str, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Fleet]:
    """Build a committed control repo at ``tmp_path/<dirname>`` (prompts, config, no specs).

    Its Repo ``app`` is ``git_repo``; tmux is the test's private socket.
    """
    monkeypatch.setenv("ORCH_TMUX_SOCKET", tmux_socket)

    def make(dirname: str) -> Fleet:
        root = tmp_path / dirname
        init_repo(root)
        f = Fleet(root=root, repo=git_repo, socket=tmux_socket, tmp=tmp_path)
        f.write(".gitignore", "state/\nworktrees/\n")
        f.write(
            "config/orch.yaml",
            f"""\
            tmux:
              socket: {tmux_socket}
              session: {SESSION}
            reconcile:
              maxPruneFraction: 0.5
            """,
        )
        f.write("playbooks/prompts/stage.md.j2", PROMPT)
        (root / "specs").mkdir()
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "control repo")
        return f

    return make


@pytest.fixture
def fleet(fleet_factory: Callable[[str], Fleet]) -> Fleet:
    """A control repo at ``tmp_path/ctl``; tests write specs with ``base`` and ``workers``."""
    return fleet_factory("ctl")


# -- the watch loop in a thread -------------------------------------------------------


class WatchThread:
    """watch_loop in a thread; every pass it runs is recorded in ``passes``."""

    def __init__(self, fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
        self.passes: list[engine.PassResult] = []
        self.items: list[Event | str] = []
        self.error: BaseException | None = None
        real = engine.apply_pass

        def recording(*args: Any, **kwargs: Any) -> engine.PassResult:
            result = real(*args, **kwargs)
            self.passes.append(result)
            return result

        monkeypatch.setattr(engine, "apply_pass", recording)
        self.stop = StopFlag(Trigger())
        self.root = fleet.root
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            watch_loop(self.root, allow_mass_prune=False, emit=self.items.append, stop=self.stop)
        except BaseException as err:  # noqa: BLE001 - reported by close()
            self.error = err

    def notices(self, text: str = "") -> list[str]:
        return [i for i in list(self.items) if isinstance(i, str) and text in i]

    def close(self) -> None:
        self.stop.requested = True
        self.stop.trigger.poke("stop")
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "watch_loop did not stop"
        assert self.error is None, self.error


@pytest.fixture
def watch_thread(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], WatchThread]]:
    started: list[WatchThread] = []

    def start() -> WatchThread:
        w = WatchThread(fleet, monkeypatch)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.thread.is_alive():
            w.close()
