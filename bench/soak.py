"""Soak test of `orch reconcile --watch`: is it safe to leave running all night?

Run with the project's venv (not in CI; tests/integration/test_soak.py runs a
short version through :func:`run`):

    .venv/bin/python bench/soak.py [--workers 30] [--minutes 10] [--seed S]
                                   [--interval 6] [--artifacts DIR]

It builds, in a temp folder (HOME pointed inside it, a private tmux socket
``orch-soak-<random>`` through ORCH_TMUX_SOCKET and config/orch.yaml), a target
git repo and a control repo whose fleet runs N workers of a many-stage
pipeline with the fake agent ``bench/soak_agent.sh``: per attempt it commits
small files, writes untracked ones, and by a seeded roll finishes its stage,
hangs (a stall), hangs ignoring SIGTERM, keeps busy past the attempt's
timeout, or crashes; it journals every commit and untracked file it makes
outside the worktree. Short stall timeouts (8 s), attempt timeouts (30 s) and
backoffs (1-4 s) make restarts happen within the run; ``reconcile.resync`` and
``reconcile.stopGrace`` are 2 s. The watcher, ``orch reconcile --watch --json``,
runs as a subprocess (``.venv/bin/orch`` of this checkout).

For M minutes, at seeded random intervals (exponential, mean --interval
seconds), one chaos event at a time:

- ``kill-watcher``: ``kill -9`` of the watcher, restarted at once; half the
  time the process alone (as the OOM killer does: its git and tmux children
  run on), half the time its whole process group (as a service manager does:
  a git call in flight dies with it);
- ``kill-tmux``: ``tmux -L <socket> kill-server`` (every agent dies);
- ``delete-state``: ``rm -rf state/`` (worktrees live in worktrees/, outside it);
- ``spec-add``, ``spec-remove``, ``spec-rename``: an edit of specs/workers.yaml,
  committed, that adds a worker (sometimes one removed earlier), removes one or
  renames one. The mass-prune guard (``reconcile.maxPruneFraction`` 0.5) is
  respected: a removal is made only while the removals still in progress stay
  at half the guard's share or less; otherwise the edit adds a worker instead;
- ``kill-watcher-mid-pass``, ``delete-state-mid-pass``: an edit, then the
  strike while orch acts on it: after a random 0.2-2 s, or (half the time) the
  moment the new worker's worktree folder appears (``git worktree add`` runs)
  or the removed worker's backup ref does (its teardown runs).

The chaos ends with a last blow of all three at once (kill -9 of the watcher,
kill-server, rm -rf state/), and the agents are told to misbehave no more.

Invariants (1-4 as first asked of the soak; 5-7 added for orch bugs that 1-4 let pass):

1. never two live agent processes for one worker: every ~0.5 s the process
   table (psutil) is scanned for the fake agent's argv marker
   (``soak-<tag> <worker>``); a worker with two marker processes neither of
   which descends from the other, still both there a moment later, breaks it;
2. the watcher never exits by itself (only the harness kills it), and never
   prints a traceback;
3. nothing journaled is lost: at the end (every process stopped) each commit
   is reachable from ``refs/heads/*`` or ``refs/orch/backups/*`` of the target
   repo, and each untracked file's blob is in the tree of such a commit, or
   the file is still, unchanged, in its registered worktree;
4. after the last blow the fleet converges within resync + stopGrace + 10 s:
   ``orch status --json`` shows every desired worker with a live window or a
   terminal phase, and ``orch plan`` exits 0;
5. within the same grace, every worker removed from the specs is torn down
   (``orch status`` lists no worker but the desired ones);
6. the worktree orch hands an agent is whole, and stays so: at the end each
   desired worker's worktree has its HEAD on a commit of its own branch and the
   base's files on disk, and every worker branch and backup ref still holds
   the base's files (the fake agent only ever adds files);
7. a worker ends Failed only by its agent's doing (its restarts spent on
   hangs and crashes), never because orch refused or broke its own work.

It prints the chaos events as they happen, then a summary: chaos events by
kind, what the watcher did (agent starts and restarts by cause, failed
actions, warnings), the most agents seen at once for one worker, journaled
commits and files and how many were found, the agents' failed commits, the
time the fleet took to converge, and an audit (not an invariant) of what orch
did that no event records. It exits 1 naming every invariant that broke, 0
otherwise. Everything is removed at the end (watcher, tmux server, agents,
socket file, temp folder), also on Ctrl-C; ``--artifacts DIR`` first copies the
watcher output, chaos log, journals and refs there.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

HERE = Path(__file__).resolve().parent
AGENT = HERE / "soak_agent.sh"
CHECKOUT = HERE.parent
REPO = "app"
SESSION = "soak"
TERMINAL = ("Succeeded", "Failed")
AGENT_FAILURE = " restart(s))"  # "... (gave up after N restart(s))": the agent's own failure
CHAOS = {  # kind -> weight
    "kill-watcher": 12,
    "kill-watcher-mid-pass": 12,
    "kill-tmux": 8,
    "delete-state": 10,
    "delete-state-mid-pass": 5,
    "spec-add": 18,
    "spec-remove": 13,
    "spec-rename": 22,
}
EDITS = ("spec-add", "spec-remove", "spec-rename")
INVARIANTS = {  # number -> name (the module docstring says what each one checks)
    1: "one agent per worker",
    2: "the watcher stays up",
    3: "no journaled work lost",
    4: "convergence",
    5: "removed workers torn down",
    6: "whole worktrees",
    7: "only agents fail workers",
}
# Variables that would point orch, git or tmux at the user's own state.
UNSET_PREFIXES = ("ORCH_", "GIT_", "TMUX")
SAMPLE_EVERY = 0.5
# The target repo's files: the fake agent only ever adds files, so every worker branch
# and backup must still hold these (invariant 6).
BASE_FILES = {
    "README.md": "# soak target\n",
    "src/app.py": "print('hello')\n",
    "docs/guide.md": "How to run the app.\n",
}


@dataclass(frozen=True)
class Settings:
    """The fleet's timings and the fake agent's odds (percent per attempt)."""

    resync: float = 2.0
    stop_grace: float = 2.0
    stall: str = "8s"
    timeout: str = "30s"
    max_restarts: int = 4
    backoff: tuple[str, str] = ("1s", "4s")
    max_prune: float = 0.5
    p_hang: int = 10
    p_stubborn: int = 5
    p_busy: int = 4
    p_crash: int = 15
    p_linger: int = 20
    step_ms: tuple[int, int] = (1000, 3000)


@dataclass
class Report:
    """What one soak run saw; ``violations`` empty means every invariant held."""

    workers: int
    minutes: float
    seed: int
    socket: str = ""
    chaos: Counter[str] = field(default_factory=Counter)
    chaos_log: list[str] = field(default_factory=list)
    skipped_edits: int = 0
    watcher_starts: int = 0
    verbs: Counter[str] = field(default_factory=Counter)
    starts: Counter[str] = field(default_factory=Counter)
    backoffs: Counter[str] = field(default_factory=Counter)
    failed_events: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    samples: int = 0
    max_agents: int = 0
    max_agents_worker: str = ""
    transient_doubles: int = 0
    commits: int = 0
    commits_found: int = 0
    files: int = 0
    files_in_refs: int = 0
    files_in_worktrees: int = 0
    backup_refs: int = 0
    refs_checked: int = 0
    commit_failures: Counter[str] = field(default_factory=Counter)
    never_committed: list[str] = field(default_factory=list)
    desired_at_end: int = 0
    phases_at_end: Counter[str] = field(default_factory=Counter)
    failed_at_end: list[str] = field(default_factory=list)
    convergence: float | None = None
    teardowns_done: float | None = None
    grace: float = 0.0
    leftover_agents: int = 0
    unrecorded_backups: list[str] = field(default_factory=list)
    unrecorded_creates: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every invariant held."""
        return not self.violations

    def summary(self) -> str:
        """The figures, then the broken invariants (if any)."""
        kinds = ", ".join(f"{k} {self.chaos[k]}" for k in CHAOS if self.chaos[k])
        verbs = ", ".join(f"{k} {v}" for k, v in sorted(self.verbs.items()))
        starts = ", ".join(f"{k} {v}" for k, v in sorted(self.starts.items()))
        causes = ", ".join(f"{k} {v}" for k, v in self.backoffs.most_common())
        conv = f"{self.convergence:.1f} s" if self.convergence is not None else "never"
        gone = f"{self.teardowns_done:.1f} s" if self.teardowns_done is not None else "never"
        found_files = self.files_in_refs + self.files_in_worktrees
        most = f" ({self.max_agents_worker})" if self.max_agents_worker else ""
        phases = ", ".join(f"{k} {v}" for k, v in sorted(self.phases_at_end.items()))
        whole = not any(v.startswith("invariant 6 ") for v in self.violations)
        never = ", ".join(self.never_committed)
        lines = [
            (
                f"soak: {self.workers} workers, {self.minutes:g} min, seed {self.seed}, "
                f"socket {self.socket}; {self.elapsed:.0f} s in all"
            ),
            (
                f"chaos events: {sum(self.chaos.values())} ({kinds or 'none'}); "
                f"{self.skipped_edits} removal(s) turned into adds by the prune-guard margin"
            ),
            f"watcher: started {self.watcher_starts} times; events: {verbs or 'none'}",
            f"agent starts (restarts seen): {starts or 'none'}",
            f"backoffs by cause: {causes or 'none'}",
            f"failed actions: {sum(self.failed_events.values())}"
            + "".join(f"\n  {n} x {e}" for e, n in self.failed_events.most_common(5)),
            f"watcher warnings: {sum(self.warnings.values())}"
            + "".join(f"\n  {n} x {w}" for w, n in self.warnings.most_common(5)),
            (
                f"agents per worker: max {self.max_agents}{most} over {self.samples} samples; "
                f"{self.transient_doubles} transient sighting(s) of two (gone a moment later)"
            ),
            (
                f"journaled commits: {self.commits}, found {self.commits_found} "
                f"(reachable from refs/heads/* or {self.backup_refs} refs/orch/backups/*)"
            ),
            (
                f"journaled untracked files: {self.files}, found {found_files} "
                f"({self.files_in_refs} in a reachable tree, {self.files_in_worktrees} "
                "still in their worktree)"
            ),
            (
                f"worktrees whole, base files kept in all {self.refs_checked} worker branches "
                "and backups"
                if whole
                else "BROKEN worktrees, or base files lost in worker branches or backups"
            ),
            f"agent commits that failed: {sum(self.commit_failures.values())}"
            + "".join(f"\n  {n} x {e}" for e, n in self.commit_failures.most_common(4))
            + (f"\n  workers none of whose commits ever worked: {never}" if never else ""),
            f"at the end: {self.desired_at_end} desired workers, phases {phases}",
            (
                f"convergence after the chaos: {conv}; removed workers all torn down after "
                f"{gone} (grace {self.grace:.0f} s)"
            ),
            f"cleanup: {self.leftover_agents} agent process(es) left after kill-server",
            (
                f"audit (not an invariant): {len(self.unrecorded_backups)} of "
                f"{self.backup_refs} backup refs and {len(self.unrecorded_creates)} worker "
                "branches made with no event recording it"
            ),
        ]
        lines += [f"  Failed at the end: {f}" for f in self.failed_at_end]
        if self.unrecorded_backups or self.unrecorded_creates:
            shown = [*self.unrecorded_backups[:5], *self.unrecorded_creates[:10]]
            lines.append("  unrecorded: " + ", ".join(shown))
        if self.violations:
            lines.append(f"INVARIANTS BROKEN ({len(self.violations)}):")
            lines += [f"  - {v}" for v in self.violations]
        else:
            lines.append("all invariants held")
        return "\n".join(lines)


def orch_argv() -> list[str]:
    """The `orch` of this checkout's venv, else of the running Python."""
    for candidate in (CHECKOUT / ".venv" / "bin" / "orch", Path(sys.executable).parent / "orch"):
        if candidate.is_file():
            return [str(candidate)]
    return [sys.executable, "-m", "reconciler"]


def git_sha1(data: bytes) -> str:
    """The blob id git gives ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "orch/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def _shorten(text: str, size: int = 160) -> str:
    """One line of at most ``size`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= size else line[: size - 3] + "..."


def _start_kind(reason: str) -> str:
    """What a start-agent event was, by its reason."""
    if "restart " in reason:
        return "restart after a stall, timeout or crash"
    if reason.startswith(("window missing", "stage ready")):
        return "restart, window gone"
    if reason.startswith("new worker"):
        return "first start"
    if reason.startswith("stage ") or "exited 0" in reason:
        return "next stage"
    return reason


class Soak:
    """One soak run: the fleet, the watcher, the chaos, the checks."""

    def __init__(
        self,
        workers: int,
        minutes: float,
        seed: int,
        *,
        interval: float,
        converge_extra: float,
        log: Callable[[str], None],
        settings: Settings,
    ) -> None:
        self.n, self.minutes, self.seed = workers, minutes, seed
        self.interval, self.log, self.cfg = interval, log, settings
        self.rng = random.Random(seed)
        self.tag = secrets.token_hex(4)
        self.marker = f"soak-{self.tag}"
        self.socket = f"orch-soak-{self.tag}"
        self.tmp = Path(tempfile.mkdtemp(prefix="orch-soak-")).resolve()
        self.ctl, self.repo = self.tmp / "ctl", self.tmp / "repo"
        self.home, self.out = self.tmp / "home", self.tmp / "out"
        self.journal, self.calm = self.tmp / "journal", self.tmp / "calm"
        self.report = Report(workers, minutes, seed, socket=self.socket)
        self.report.grace = settings.resync + settings.stop_grace + converge_extra
        self.env = self._env()
        self.orch = orch_argv()
        self.desired: list[str] = []
        self.removed: list[str] = []
        self.counter = 0
        self.target: tuple[str, str] = ("", "")  # what the last edit asks orch to do
        self.recorded_backups: set[str] = set()  # backup refs named by remove-worktree events
        self.recorded_creates: set[str] = set()  # workers of create-worktree events
        self.watcher: subprocess.Popen[bytes] | None = None
        self.started = time.monotonic()
        self.stop_sampling = threading.Event()
        self.sampler = threading.Thread(target=self._sample_loop, name="soak-sampler", daemon=True)
        self.sightings: set[tuple[str, frozenset[int]]] = set()
        self.lock = threading.Lock()

    # -- set-up ----------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(UNSET_PREFIXES)}
        if "TMUX_TMPDIR" in os.environ:
            env["TMUX_TMPDIR"] = os.environ["TMUX_TMPDIR"]
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            GIT_CONFIG_GLOBAL=str(self.home / ".gitconfig"),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_AUTHOR_NAME="soak",
            GIT_AUTHOR_EMAIL="soak@example.invalid",
            GIT_COMMITTER_NAME="soak",
            GIT_COMMITTER_EMAIL="soak@example.invalid",
            ORCH_TMUX_SOCKET=self.socket,
        )
        return env

    def git(self, cwd: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args], input=stdin, capture_output=True, text=True,
            env=self.env, check=False, timeout=300,
        )  # fmt: skip
        if check and done.returncode:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def setup(self) -> None:
        for folder in (self.home, self.out, self.journal):
            folder.mkdir(parents=True)
        (self.home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
        self.repo.mkdir()
        self.git(self.repo, "init", "-q", "-b", "main")
        for rel, text in BASE_FILES.items():
            (self.repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.repo / rel).write_text(text)
        self.git(self.repo, "add", "-A")
        self.git(self.repo, "commit", "-q", "-m", "soak target")

        self.ctl.mkdir()
        self.git(self.ctl, "init", "-q", "-b", "main")
        (self.ctl / ".gitignore").write_text("state/\nworktrees/\n")
        cfg = self.cfg
        (self.ctl / "config").mkdir()
        (self.ctl / "config" / "orch.yaml").write_text(
            f"tmux: {{socket: {self.socket}, session: {SESSION}}}\n"
            f"reconcile: {{resync: {cfg.resync:g}s, debounce: 200ms, "
            f"maxPruneFraction: {cfg.max_prune}, stopGrace: {cfg.stop_grace:g}s}}\n"
            "reports: {commit: false}\n"
        )
        prompts = self.ctl / "playbooks" / "prompts"
        prompts.mkdir(parents=True)
        (prompts / "stage.md.j2").write_text(
            "Worker {{ worker }}, stage {{ stage }}, attempt {{ attempt }}. "
            "When done, write {{ signal_file }}.\n"
        )
        (self.ctl / "specs").mkdir()
        (self.ctl / "specs" / "base.yaml").write_text(self._base_specs())
        self.desired = [self._fresh_name() for _ in range(self.n)]
        self._write_workers()
        self.git(self.ctl, "add", "-A")
        self.git(self.ctl, "commit", "-q", "-m", "soak fleet")

    def stages(self) -> int:
        """About one stage per 7 s of soak (an attempt takes ~6 s): agents work the whole run."""
        return max(3, min(200, round(self.minutes * 60 / 7)))

    def _base_specs(self) -> str:
        cfg = self.cfg
        env = {
            "SOAK_SEED": str(self.seed),
            "SOAK_JOURNAL": str(self.journal),
            "SOAK_CALM": str(self.calm),
            "SOAK_P_HANG": str(cfg.p_hang),
            "SOAK_P_STUBBORN": str(cfg.p_stubborn),
            "SOAK_P_BUSY": str(cfg.p_busy),
            "SOAK_P_CRASH": str(cfg.p_crash),
            "SOAK_P_LINGER": str(cfg.p_linger),
            "SOAK_STEP_MS": f"{cfg.step_ms[0]} {cfg.step_ms[1]}",
        }
        stages = [
            {"name": f"s{i:02d}", "prompt": "playbooks/prompts/stage.md.j2",
             "stallTimeout": cfg.stall, "timeout": cfg.timeout, "doneWhen": "signal"}
            for i in range(1, self.stages() + 1)
        ]  # fmt: skip
        agent = {"command": ["sh", str(AGENT), self.marker, "{{ worker }}"], "env": env}
        docs = [
            _doc("Repo", REPO, {"path": str(self.repo), "defaultBranch": "main"}),
            _doc("Agent", "fake", agent),
            _doc("Pipeline", "soak", {"stages": stages}),
        ]
        return yaml.safe_dump_all(docs, sort_keys=False)

    def _fresh_name(self) -> str:
        self.counter += 1
        return f"w{self.counter:03d}"

    def _write_workers(self) -> None:
        cfg = self.cfg
        policy = {"maxRestarts": cfg.max_restarts,
                  "backoff": {"initial": cfg.backoff[0], "max": cfg.backoff[1]}}  # fmt: skip
        spec = {"repo": REPO, "pipeline": "soak", "agent": "fake", "restartPolicy": policy}
        docs = [_doc("Worker", name, spec) for name in self.desired]
        path = self.ctl / "specs" / "workers.yaml"
        tmp = path.with_name(".workers.yaml.tmp")
        tmp.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        tmp.replace(path)  # atomic: the watcher never reads half a file

    # -- the watcher -----------------------------------------------------------------

    def start_watcher(self) -> None:
        n = self.report.watcher_starts = self.report.watcher_starts + 1
        with (
            (self.out / f"watcher-{n:03d}.jsonl").open("wb") as out,
            (self.out / f"watcher-{n:03d}.err").open("wb") as err,
        ):
            self.watcher = subprocess.Popen(
                [*self.orch, "--root", str(self.ctl), "reconcile", "--watch", "--json"],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=self.env,
                cwd=self.tmp, start_new_session=True,
            )  # fmt: skip

    def kill_watcher(self, group: bool = False) -> int:
        """``kill -9`` of the watcher: the process alone (as the OOM killer does; its git
        and tmux children run on), or with ``group`` its whole process group (as a
        service manager does: a git call in flight dies with it)."""
        assert self.watcher is not None
        pid = self.watcher.pid
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        self.watcher.wait(timeout=30)
        return pid

    def check_watcher(self) -> None:
        """A watcher that exited without being killed breaks invariant 2; start another."""
        if self.watcher is None or self.watcher.poll() is None:
            return
        n = self.report.watcher_starts
        err = (self.out / f"watcher-{n:03d}.err").read_text(errors="replace").strip()
        tail = " | ".join(err.splitlines()[-5:])
        self.violation(
            2,
            f"watcher exited by itself: exit {self.watcher.returncode} "
            f"(watcher-{n:03d}); stderr: {tail or '(empty)'}",
        )
        self.start_watcher()

    # -- invariant 1: one agent per worker -------------------------------------------

    def agents(self) -> dict[str, list[int]]:
        """Live fake-agent processes by worker: marker processes not forked from another."""
        marked: dict[int, tuple[str, int]] = {}
        for proc in psutil.process_iter(["pid", "ppid", "cmdline", "status"]):
            info = proc.info
            argv = info.get("cmdline") or []
            if (
                len(argv) >= 4
                and argv[2] == self.marker
                and info.get("status") != psutil.STATUS_ZOMBIE
            ):
                marked[info["pid"]] = (argv[3], info["ppid"])
        out: dict[str, list[int]] = {}
        for pid, (worker, ppid) in marked.items():
            if ppid not in marked:  # a subshell of an agent is that agent
                out.setdefault(worker, []).append(pid)
        return out

    def _describe(self, pid: int) -> str:
        try:
            p = psutil.Process(pid)
            env = p.environ()
            parent = p.parent()
            born = time.strftime("%H:%M:%S", time.localtime(p.create_time()))
            return (
                f"pid {pid} ({p.status()}, started {born}, "
                f"stage {env.get('ORCH_STAGE')} attempt {env.get('ORCH_ATTEMPT')}, "
                f"parent {parent.pid if parent else '-'} {parent.name() if parent else ''})"
            )
        except psutil.Error as err:
            return f"pid {pid} ({type(err).__name__})"

    def sample(self) -> None:
        found = self.agents()
        with self.lock:
            self.report.samples += 1
            for worker, pids in found.items():
                if len(pids) > self.report.max_agents:
                    self.report.max_agents = len(pids)
                    self.report.max_agents_worker = worker
        for worker, pids in found.items():
            key = (worker, frozenset(pids))
            if len(pids) < 2 or key in self.sightings:
                continue
            time.sleep(0.05)  # a fork between its fork and exec looks like an agent: look again
            again = self.agents().get(worker, [])
            if len(set(again) & set(pids)) < 2:
                with self.lock:
                    self.report.transient_doubles += 1
                continue
            self.sightings.add(key)
            fmt = "#{window_id} #{@orch-worker} #{pane_pid} dead=#{pane_dead} #{@orch-stage}"
            panes = self.tmux("list-panes", "-a", "-F", fmt).stdout
            mine = [line for line in panes.splitlines() if f" {worker} " in line]
            self.violation(
                1,
                f"two live agents for worker {worker} at t={self.elapsed():.1f}s: "
                + "; ".join(self._describe(p) for p in sorted(pids))
                + f"; its tmux windows: {mine or 'none'}",
            )

    def _sample_loop(self) -> None:
        while not self.stop_sampling.wait(SAMPLE_EVERY):
            try:
                self.sample()
            except Exception as err:  # noqa: BLE001 - the sampler must outlive a hiccup
                self.log(f"[sampler] {type(err).__name__}: {err}")

    # -- chaos -----------------------------------------------------------------------

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True,
            env=self.env, check=False, timeout=30,
        )  # fmt: skip

    def known(self) -> set[str]:
        """Workers orch still runs or remembers: worktree folders, state files, windows."""
        names: set[str] = set()
        with contextlib.suppress(OSError):
            names |= {p.name for p in (self.ctl / "worktrees" / REPO).iterdir()}
        with contextlib.suppress(OSError):
            names |= {p.stem for p in (self.ctl / "state" / "workers").glob("*.json")}
        windows = self.tmux("list-panes", "-a", "-F", "#{@orch-worker}").stdout.split()
        return names | set(windows)

    def removal_fits(self) -> bool:
        """One more removal keeps those in progress at half the guard's share or less."""
        known = self.known()
        pending = len(known - set(self.desired))
        total = len(known | set(self.desired))
        return pending + 1 <= 0.5 * self.cfg.max_prune * total

    def edit(self, kind: str) -> str:
        """A committed edit of specs/workers.yaml: add, remove or rename one worker."""
        low, high = round(self.n * 0.75), round(self.n * 1.25)
        if kind == "spec-add" and len(self.desired) >= high:
            kind = "spec-remove"
        if kind == "spec-remove" and len(self.desired) <= low:
            kind = "spec-add"
        if kind != "spec-add" and not self.removal_fits():
            self.report.skipped_edits += 1
            kind = "spec-add"
        if kind == "spec-add":
            back = [n for n in self.removed if n not in self.desired]
            again = bool(back) and self.rng.random() < 0.3
            name = self.rng.choice(back) if again else self._fresh_name()
            self.desired.append(name)
            self.target = ("add", name)
            detail = f"add {name}" + (" (again)" if again else "")
        elif kind == "spec-remove":
            name = self.rng.choice(self.desired)
            self.desired.remove(name)
            self.removed.append(name)
            self.target = ("remove", name)
            detail = f"remove {name}"
        else:
            old = self.rng.choice(self.desired)
            new = self._fresh_name()
            self.desired[self.desired.index(old)] = new
            self.removed.append(old)
            self.target = self.rng.choice([("add", new), ("remove", old)])
            detail = f"rename {old} -> {new}"
        self._write_workers()
        self.git(self.ctl, "add", "specs")
        self.git(self.ctl, "commit", "-q", "-m", f"soak: {detail}")
        self.report.chaos[kind] += 1
        return f"{kind}: {detail} ({len(self.desired)} desired)"

    def strike_when(self) -> str:
        """Wait for the moment to strike after an edit: a random delay, or (half the
        time) the moment orch is seen acting on it: the new worker's worktree folder
        appears, or the removed worker's first backup ref does (its teardown runs)."""
        if self.rng.random() < 0.5:
            delay = self.rng.uniform(0.2, 2.0)
            self.wait(delay)
            return f"{delay:.2f}s later "
        what, name = self.target
        if what == "add":
            sign, seen = self.ctl / "worktrees" / REPO / name, "its worktree folder appeared"
        else:
            sign = self.repo / ".git" / "refs" / "orch" / "backups" / name
            seen = "its backup ref appeared"
        t0 = time.monotonic()
        while not sign.exists() and time.monotonic() - t0 < 10:
            self.check_watcher()
            time.sleep(0.005)
        took = time.monotonic() - t0
        return f"as {seen} ({took:.2f}s) " if sign.exists() else f"after {took:.0f}s (not seen) "

    def chaos(self, kind: str) -> str:
        if kind in EDITS:
            return self.edit(kind)
        prefix = ""
        if kind.endswith("-mid-pass"):  # an edit starts a pass; strike while it runs
            prefix = self.edit(self.rng.choice(EDITS)) + "; " + self.strike_when()
        self.report.chaos[kind] += 1
        if kind.startswith("kill-watcher"):
            group = self.rng.random() < 0.5
            old = self.kill_watcher(group)
            self.start_watcher()
            assert self.watcher is not None
            what = f"kill -9 -{old} (its process group)" if group else f"kill -9 {old}"
            return f"{prefix}{kind}: {what}; restarted as {self.watcher.pid}"
        if kind == "kill-tmux":
            agents = sum(len(p) for p in self.agents().values())
            done = self.tmux("kill-server")
            return f"kill-tmux: kill-server (exit {done.returncode}; {agents} agents were alive)"
        shutil.rmtree(self.ctl / "state", ignore_errors=True)
        left = (self.ctl / "state").exists()
        return f"{prefix}{kind}: rm -rf state/" + (" (recreated at once)" if left else "")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, text: str) -> None:
        line = f"[{self.elapsed():7.1f}s] {text}"
        with self.lock:
            self.report.chaos_log.append(line)
        self.log(line)

    def violation(self, invariant: int, text: str) -> None:
        """Invariant number ``invariant`` broke: say so now, and in the summary."""
        line = f"invariant {invariant} ({INVARIANTS[invariant]}): {text}"
        with self.lock:
            self.report.violations.append(line)
        self.note(f"INVARIANT BROKEN: {line}")

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` while keeping an eye on the watcher."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.check_watcher()
            time.sleep(min(0.2, left))

    def run_chaos(self) -> None:
        end = time.monotonic() + self.minutes * 60
        kinds, weights = list(CHAOS), list(CHAOS.values())
        while True:
            gap = self.rng.expovariate(1 / self.interval)
            if time.monotonic() + gap >= end:
                self.wait(end - time.monotonic())
                return
            self.wait(gap)
            self.note(self.chaos(self.rng.choices(kinds, weights)[0]))

    def final_blow(self) -> None:
        """The chaos ends with the worst at once: watcher, tmux server and state/ all gone."""
        self.calm.touch()  # from now on the agents misbehave no more
        self.check_watcher()
        pid = self.kill_watcher()
        agents = sum(len(p) for p in self.agents().values())
        self.tmux("kill-server")
        shutil.rmtree(self.ctl / "state", ignore_errors=True)
        self.start_watcher()
        for kind in ("kill-watcher", "kill-tmux", "delete-state"):
            self.report.chaos[kind] += 1
        self.note(
            f"final blow: kill -9 {pid}, kill-server ({agents} agents were alive), rm -rf "
            f"state/, watcher restarted; agents told to settle; waiting for convergence"
        )

    # -- invariants 4 and 5: convergence ---------------------------------------------

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.orch, "--root", str(self.ctl), *args], capture_output=True, text=True,
            env=self.env, check=False, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def converged(self) -> tuple[str, str, dict[str, Any]]:
        """Why the fleet is not converged now (invariant 4, then 5; "" when it is), and
        the status rows by name."""
        status = self.cli("status", "--json")
        try:
            rows = {r["name"]: r for r in json.loads(status.stdout)["workers"]}
        except (ValueError, KeyError, TypeError):
            why = f"orch status --json failed: {(status.stdout + status.stderr)[-300:]}"
            return why, why, {}
        bad = [
            f"{n} ({rows[n]['phase']}: {rows[n]['reason']})" if n in rows else f"{n} (no row)"
            for n in self.desired
            if n not in rows or not (rows[n]["pid"] or rows[n]["phase"] in TERMINAL)
        ]
        if bad:
            why = "neither live nor terminal: " + "; ".join(bad[:5])
            return why, why, rows
        plan = self.cli("plan")
        if plan.returncode != 0:
            lines = (plan.stdout + plan.stderr).strip().splitlines()
            why = f"orch plan exit {plan.returncode}: " + " | ".join(lines[:5])
            return why, why, rows
        left = [f"{n} ({r['phase']}: {r['reason']})" for n, r in rows.items()
                if n not in self.desired]  # fmt: skip
        return "", "still there: " + "; ".join(left[:5]) if left else "", rows

    def converge(self) -> None:
        """Poll until invariants 4 and 5 hold, up to a minute past the grace (the time
        they took is reported either way)."""
        t0 = time.monotonic()
        grace = self.report.grace
        why4 = why5 = "not checked"
        rows: dict[str, Any] = {}
        while time.monotonic() < t0 + grace + 60 and (why4 or why5):
            self.check_watcher()
            why4, why5, rows = self.converged()
            took = time.monotonic() - t0
            if not why4 and self.report.convergence is None:
                self.report.convergence = took
            if not why5 and self.report.teardowns_done is None:
                self.report.teardowns_done = took
            if why4 or why5:
                time.sleep(0.3)
        live = "converged (4: every desired worker live or terminal, orch plan exit 0)"
        gone = "finished tearing down removed workers (5)"
        for num, at, why, what in (
            (4, self.report.convergence, why4, live),
            (5, self.report.teardowns_done, why5, gone),
        ):
            if at is None:
                self.violation(num, f"the fleet never {what} within {grace + 60:.0f}s: {why}")
            elif at > grace:
                self.violation(num, f"the fleet {what} only {at:.1f}s after the chaos "
                               f"(grace {grace:.0f}s)")  # fmt: skip
        self.report.desired_at_end = len(self.desired)
        self.report.phases_at_end = Counter(
            rows[n]["phase"] if n in rows else "?" for n in self.desired
        )
        self.report.failed_at_end = [
            f"{n}: {rows[n]['reason']}"
            for n in self.desired
            if rows.get(n, {}).get("phase") == "Failed"
        ]
        by_orch = [f for f in self.report.failed_at_end if AGENT_FAILURE not in f]
        if by_orch:
            self.violation(
                7,
                f"{len(by_orch)} worker(s) Failed by no fault of their agent: "
                + "; ".join(by_orch),
            )

    # -- invariants 3 and 6: nothing lost, whole worktrees ---------------------------

    def stop_all(self) -> None:
        """Stop the watcher (SIGTERM, then KILL), the tmux server, and any agent left."""
        self.stop_sampling.set()
        if self.watcher is not None and self.watcher.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.watcher.send_signal(signal.SIGTERM)
            try:
                self.watcher.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.watcher.pid, signal.SIGKILL)
                self.watcher.wait(timeout=10)
        self.tmux("kill-server")
        deadline = time.monotonic() + 10
        left: list[int] = []
        while time.monotonic() < deadline:
            left = [p for pids in self.agents().values() for p in pids]
            if not left:
                break
            time.sleep(0.1)
        self.report.leftover_agents = len(left)
        self._kill_marked()

    def _kill_marked(self) -> None:
        """SIGKILL every process carrying this run's marker (and its children)."""
        for proc in psutil.process_iter(["cmdline"]):
            argv = proc.info.get("cmdline") or []
            if len(argv) >= 3 and argv[2] == self.marker:
                with contextlib.suppress(psutil.Error):
                    for child in proc.children(recursive=True):
                        child.kill()
                    proc.kill()

    def verify_journals(self) -> None:
        """Invariant 3: every journaled commit and untracked file is kept."""
        backups = self.git(
            self.repo, "for-each-ref", "--format=%(objectname)", "refs/orch/backups/"
        ).split()
        self.report.backup_refs = len(backups)
        tips = "\n".join(backups) + "\n"
        commits = set(self.git(self.repo, "rev-list", "--stdin", "--branches", stdin=tips).split())
        listing = self.git(self.repo, "rev-list", "--objects", "--stdin", "--branches", stdin=tips)
        objects = {line.split(" ", 1)[0] for line in listing.splitlines()}
        worktrees = {
            str(Path(line.removeprefix("worktree ")).resolve())
            for line in self.git(self.repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")
        }
        lost_commits: list[str] = []
        lost_files: list[str] = []
        made_by: Counter[str] = Counter()
        failed_by: Counter[str] = Counter()
        for path in sorted(self.journal.glob("*.log")):
            worker = path.stem
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split()
                if parts[:1] == ["commit"] and len(parts) == 4 and len(parts[1]) == 40:
                    self.report.commits += 1
                    made_by[worker] += 1
                    if parts[1] in commits:
                        self.report.commits_found += 1
                    else:
                        lost_commits.append(f"{worker} {parts[2]}#{parts[3]} {parts[1][:10]} "
                                            f"({self._object_note(parts[1])})")  # fmt: skip
                elif parts[:1] == ["commitfail"] and len(parts) >= 3:
                    why = _shorten(" ".join(parts[3:]).replace(str(self.tmp), "$TMP"), 100)
                    self.report.commit_failures[why] += 1
                    failed_by[worker] += 1
                elif parts[:1] == ["file"] and len(parts) == 4 and len(parts[1]) == 40:
                    self.report.files += 1
                    blob, worktree, rel = parts[1:]
                    if blob in objects:
                        self.report.files_in_refs += 1
                        continue
                    file = Path(worktree) / rel
                    try:
                        same = git_sha1(file.read_bytes()) == blob
                    except OSError:
                        same = False
                    if same and str(Path(worktree).resolve()) in worktrees:
                        self.report.files_in_worktrees += 1
                        continue
                    where = "changed" if file.exists() else "gone"
                    lost_files.append(f"{worker} {rel} (blob {blob[:10]}, file {where}, "
                                      f"{self._object_note(blob)})")  # fmt: skip
        if lost_commits:
            self.violation(3, f"{len(lost_commits)} journaled commit(s) reachable from no branch "
                           "or backup ref: " + "; ".join(lost_commits[:10]))  # fmt: skip
        if lost_files:
            self.violation(3, f"{len(lost_files)} journaled untracked file(s) in no reachable tree "
                           "nor their worktree: " + "; ".join(lost_files[:10]))  # fmt: skip
        self.report.never_committed = sorted(
            w for w, n in failed_by.items() if n >= 3 and not made_by[w]
        )

    def _object_note(self, sha: str) -> str:
        exists = self.git(self.repo, "cat-file", "-t", sha, check=False).strip()
        return "object exists, unreachable" if exists else "object missing"

    def verify_base_files(self) -> None:
        """Invariant 6, in git: every worker branch and backup ref holds the base's files."""
        refs = self.git(
            self.repo, "for-each-ref", "--format=%(refname)", "refs/heads/orch/", "refs/orch/"
        ).split()
        query = "".join(f"{ref}:{rel}\n" for ref in refs for rel in BASE_FILES)
        answers = self.git(self.repo, "cat-file", "--batch-check", stdin=query).splitlines()
        missing: dict[str, list[str]] = {}
        for asked, answer in zip(query.splitlines(), answers, strict=True):
            if answer.endswith(" missing"):
                ref, rel = asked.split(":", 1)
                missing.setdefault(ref, []).append(rel)
        self.report.refs_checked = len(refs)
        if missing:
            shown = [
                f"{ref.removeprefix('refs/')} lacks {', '.join(rels)} "
                f"(deleted by {self._deleted_by(ref, rels[0])})"
                for ref, rels in sorted(missing.items())[:5]
            ]
            self.violation(
                6,
                f"{len(missing)} worker branch(es) or backup(s) lost files of the base, which "
                "no agent deletes: " + "; ".join(shown),
            )

    def _deleted_by(self, ref: str, rel: str) -> str:
        out = self.git(
            self.repo, "log", "--diff-filter=D", "--format=%h %s", "-1", ref, "--", rel,
            check=False,
        ).strip()  # fmt: skip
        return out or "?"

    def verify_worktrees(self) -> None:
        """Invariant 6, on disk: each desired worker's worktree is a whole checkout, its
        HEAD a commit on its own branch and the base's files there."""
        broken = []
        for name in self.desired:
            wt = self.ctl / "worktrees" / REPO / name
            if not wt.is_dir():
                continue
            head = self.git(wt, "symbolic-ref", "-q", "HEAD", check=False).strip()
            commit = self.git(wt, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
            gone = [rel for rel in BASE_FILES if not (wt / rel).is_file()]
            problems = []
            if head != f"refs/heads/orch/{name}":
                problems.append(f"HEAD is {head or 'no branch'}")
            if not commit.strip():
                problems.append("HEAD is no commit")
            if gone:
                problems.append(f"{', '.join(gone)} missing")
            if problems:
                broken.append(f"{name} ({'; '.join(problems)})")
        if broken:
            self.violation(
                6,
                f"{len(broken)} worktree(s) handed to an agent are not whole checkouts: "
                + "; ".join(broken[:10]),
            )

    # -- what the watcher did --------------------------------------------------------

    def read_watcher_output(self) -> None:
        rep = self.report
        for path in sorted(self.out.glob("watcher-*.jsonl")):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if "notice" in item:
                    text = str(item["notice"])
                    if text.startswith("warning"):
                        rep.warnings[_shorten(text)] += 1
                    continue
                verb = str(item.get("verb", "?"))
                rep.verbs[verb] += 1
                if not item.get("ok", True):
                    rep.failed_events[f"{verb}: {_shorten(str(item.get('error')))}"] += 1
                if verb == "start-agent":
                    rep.starts[_start_kind(str(item.get("reason", "")))] += 1
                if verb == "phase Backoff":
                    cause = str(item.get("reason", "")).split(";")[0].split(":")[0]
                    rep.backoffs[cause] += 1
                detail = item.get("detail") or {}
                if verb == "remove-worktree" and isinstance(detail, dict) and item.get("ok"):
                    self.recorded_backups.add(str(detail.get("backup")))
                if verb == "create-worktree" and item.get("ok"):
                    self.recorded_creates.add(str(item.get("worker")))
        for path in sorted(self.out.glob("watcher-*.err")):
            text = path.read_text(errors="replace")
            if "Traceback" in text:
                self.violation(2, f"a traceback in {path.name}: {text.strip()[-400:]}")

    def audit(self) -> None:
        """Not an invariant: what orch did that no event records (state/events.jsonl and
        the watcher's output say the same). Backup refs with no remove-worktree event,
        worker branches with no create-worktree event."""
        refs = self.git(self.repo, "for-each-ref", "--format=%(refname)", "refs/orch/backups/")
        branches = self.git(
            self.repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/orch/"
        )
        self.report.unrecorded_backups = sorted(set(refs.split()) - self.recorded_backups)
        made = {b.removeprefix("orch/") for b in branches.split()}
        self.report.unrecorded_creates = sorted(made - self.recorded_creates)

    # -- cleanup ---------------------------------------------------------------------

    def save_artifacts(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, self.journal):
            if folder.is_dir():
                shutil.copytree(folder, dest / folder.name, dirs_exist_ok=True)
        events = self.ctl / "state" / "events.jsonl"
        if events.is_file():
            shutil.copy(events, dest / "events.jsonl")
        (dest / "chaos.log").write_text("\n".join(self.report.chaos_log) + "\n")
        (dest / "report.txt").write_text(self.report.summary() + "\n")
        with contextlib.suppress(Exception):
            (dest / "refs.txt").write_text(self.git(self.repo, "for-each-ref"))
        with contextlib.suppress(OSError):
            shutil.copy(self.ctl / "specs" / "workers.yaml", dest / "workers.yaml")

    def cleanup(self) -> None:
        self.stop_sampling.set()
        if self.watcher is not None and self.watcher.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.watcher.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.watcher.wait(timeout=10)
        with contextlib.suppress(Exception):
            self.tmux("kill-server")
        with contextlib.suppress(Exception):
            self._kill_marked()
        base = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (base / self.socket).unlink(missing_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def run(
    workers: int = 30,
    minutes: float = 10,
    seed: int | None = None,
    *,
    interval: float = 6.0,
    converge_extra: float = 10.0,
    artifacts: Path | None = None,
    log: Callable[[str], None] = print,
    settings: Settings | None = None,
) -> Report:
    """Run the soak; return its :class:`Report` (``report.ok`` says whether it held).

    Everything it starts and creates is removed before it returns or raises.
    """
    seed = secrets.randbelow(2**31) if seed is None else seed
    soak = Soak(workers, minutes, seed, interval=interval, converge_extra=converge_extra,
                log=log, settings=settings or Settings())  # fmt: skip
    try:
        soak.setup()
        log(f"soak: {workers} workers, {minutes:g} min, seed {seed}, socket {soak.socket}, "
            f"temp {soak.tmp}, {soak.stages()} stages, chaos every ~{interval:g}s; "
            f"orch: {' '.join(soak.orch)}")  # fmt: skip
        soak.start_watcher()
        soak.sampler.start()
        soak.run_chaos()
        soak.final_blow()
        soak.converge()
        soak.stop_all()
        soak.read_watcher_output()
        soak.verify_journals()
        soak.verify_base_files()
        soak.verify_worktrees()
        soak.audit()
    finally:
        soak.report.elapsed = soak.elapsed()
        if artifacts is not None:
            with contextlib.suppress(Exception):
                soak.save_artifacts(artifacts)
        soak.cleanup()
    return soak.report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--interval", type=float, default=6.0,
                        help="mean seconds between chaos events (default 6)")  # fmt: skip
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="copy watcher output, chaos log and journals here")  # fmt: skip
    args = parser.parse_args()

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        report = run(args.workers, args.minutes, args.seed, interval=args.interval,
                     artifacts=args.artifacts, log=lambda s: print(s, flush=True))  # fmt: skip
    except KeyboardInterrupt:
        print("soak: interrupted; everything it started was removed", flush=True)
        sys.exit(130)
    print()
    print(report.summary(), flush=True)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
