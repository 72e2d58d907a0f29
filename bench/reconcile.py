"""Reconcile 100 workers (agent: `sleep 3600`), each figure beside a floor from the same run.

Run with the project's venv:  .venv/bin/python bench/reconcile.py [--rounds N] [--profile]

(a) converge from empty: ``engine.reconcile_pass(engine.load(root))`` in-process,
    and ``orch reconcile`` as a process (start-up included), each creating 100
    worktrees and 100 tmux windows, vs the floor: a shell loop of 100
    ``git worktree add -b`` plus ONE chained tmux call opening 100 windows (on a
    second socket). Median over --rounds fresh fleets.
(b) a no-op pass after convergence: in-process ``engine.snapshot`` +
    ``engine.make_plan`` (specs loaded once; median of 20) and ``orch plan`` as a
    process (median of 5), vs the floor: one ``tmux list-panes -a -F`` plus one
    ``git worktree list --porcelain`` subprocess (median of 20).

--profile adds cProfile tables (cumulative ms) of the no-op pass and of one
more converge. Not a test: nothing is asserted.

Isolation: a temp folder for the control repos, private tmux sockets
``orch-bench-<random>`` (orch, via ORCH_TMUX_SOCKET) and ``...-floor``, HOME
pointed into the temp folder (in-process too, so git and tmux children see it).
At the end, in a finally: both tmux servers are killed, every ``sleep 3600``
started here is checked gone (killed by pid if not), the socket files and the
temp folder are removed and the environment restored.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reconciler.core.observed import PANE_FORMAT
from reconciler.drivers.git import init_repo
from reconciler.loop import engine

WORKERS = 100
CONVERGE_RATIO_TARGET = 1.5  # both in-process and `orch reconcile` as a process
NOOP_MS_TARGET = 50.0
NOOP_RATIO_TARGET = 3.0
ENV_KEYS = ("HOME", "XDG_CONFIG_HOME", "ORCH_TMUX_SOCKET", "ORCH_ROOT", "TMUX")

FLEET = """\
apiVersion: orch/v1
kind: Repo
metadata:
  name: self
spec:
  path: .
  defaultBranch: main
---
apiVersion: orch/v1
kind: Agent
metadata:
  name: sleeper
spec:
  command: [sleep, "3600"]
---
apiVersion: orch/v1
kind: Pipeline
metadata:
  name: bench
spec:
  stages:
    - name: work
      prompt: playbooks/prompts/work.md.j2
      stallTimeout: 10h
      timeout: 20h
---
apiVersion: orch/v1
kind: WorkerSet
metadata:
  name: bench
spec:
  items: config/items.yaml
  nameTemplate: "w-{{ item.id }}"
  template:
    repo: self
    pipeline: bench
    agent: sleeper
    vars: {topic: "{{ item.topic }}"}
"""


# -- fleet and tmux helpers ---------------------------------------------------------


def restore_env(saved: dict[str, str | None]) -> None:
    """Put back the environment variables ``saved`` holds (None: it was not set)."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def isolate(tmp: Path, sock: str) -> dict[str, str]:
    """Point HOME into ``tmp`` and orch at the tmux socket ``sock``; the environment, as now.

    In-process too, so that git and tmux children see it (restore_env puts it back).
    """
    home = tmp / "home"
    home.mkdir()
    os.environ.pop("ORCH_ROOT", None)
    os.environ.pop("TMUX", None)
    os.environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                      ORCH_TMUX_SOCKET=sock)
    return dict(os.environ)


def make_fleet(root: Path) -> Path:
    """A control repo (its own Repo, path: .) with a WorkerSet of WORKERS sleepers."""
    init_repo(root)
    (root / ".gitignore").write_text("state/\nworktrees/\n")
    (root / "playbooks" / "prompts").mkdir(parents=True)
    (root / "playbooks" / "prompts" / "work.md.j2").write_text(
        "Work on {{ vars.topic }} as {{ worker }}.\n")
    (root / "specs").mkdir()
    (root / "specs" / "fleet.yaml").write_text(FLEET)
    (root / "config").mkdir()
    (root / "config" / "items.yaml").write_text(
        "".join(f'- {{id: {i}, topic: "task {i}"}}\n' for i in range(WORKERS)))
    return root


def tmux(sock: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", sock, *args], check=False, capture_output=True, text=True)


def socket_file(sock: str) -> Path:
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    return Path(base) / f"tmux-{os.getuid()}" / sock


def pane_pids(sock: str) -> set[int]:
    out = tmux(sock, "list-panes", "-a", "-F", "#{pane_pid}").stdout
    return {int(x) for x in out.split() if x.isdigit()}


def our_sleeps(tmp: Path) -> set[int]:
    """Live `sleep 3600` processes of this user whose cwd is under ``tmp``."""
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmd = Path(entry.path, "cmdline").read_bytes()
            if cmd != b"sleep\x003600\x00":
                continue
            cwd = os.readlink(Path(entry.path, "cwd"))
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == str(tmp) or cwd.startswith(str(tmp) + "/")):
            found.add(int(entry.name))
    return found


def kill_server(sock: str, seen: set[int], tmp: Path) -> None:
    """Kill the tmux server on ``sock`` and wait (at most 5 s) until its sleepers are gone."""
    pids = pane_pids(sock)
    seen |= pids
    tmux(sock, "kill-server")
    deadline = time.monotonic() + 5
    while pids & our_sleeps(tmp) and time.monotonic() < deadline:
        time.sleep(0.02)


# -- measurements ---------------------------------------------------------------------


def count_converged(root: Path, sock: str) -> tuple[int, int]:
    wts = subprocess.run(["git", "-C", str(root), "worktree", "list", "--porcelain"],
                         check=False, capture_output=True, text=True).stdout
    n_wt = sum(1 for line in wts.splitlines() if line.startswith("worktree ")) - 1
    panes = tmux(sock, "list-panes", "-a", "-F", "#{@orch-worker}|#{pane_dead}").stdout
    n_win = sum(1 for line in panes.splitlines() if line.split("|")[0] and line.endswith("|0"))
    return n_wt, n_win


def converge(root: Path) -> tuple[float, engine.PassResult]:
    t0 = time.perf_counter()
    result = engine.reconcile_pass(engine.load(root))
    return time.perf_counter() - t0, result


def floor_converge(repo: Path, sock: str) -> tuple[float, float]:
    """(git loop seconds, tmux call seconds) for WORKERS worktrees and windows."""
    init_repo(repo)
    wt_root = repo / "worktrees" / "self"
    script = ('cd "$1" || exit 1; i=0; while [ $i -lt "$2" ]; do '
              'git worktree add --quiet -b "floor/w-$i" "$3/w-$i" main || exit 1; '
              "i=$((i+1)); done")
    t0 = time.perf_counter()
    proc = subprocess.run(["sh", "-c", script, "sh", str(repo), str(WORKERS), str(wt_root)],
                          check=False, capture_output=True, text=True)
    t1 = time.perf_counter()
    if proc.returncode:
        print(f"  [floor git loop failed: {proc.stderr.strip()[:300]}]")
    argv = ["tmux", "-L", sock, "new-session", "-d", "-s", "floor", ";",
            "set-option", "-g", "default-shell", "/bin/sh"]
    for i in range(WORKERS):
        argv += [";", "new-window", "-d", "-c", str(wt_root / f"w-{i}"), "exec sleep 3600"]
    t2 = time.perf_counter()
    proc = subprocess.run(argv, check=False, capture_output=True, text=True)
    t3 = time.perf_counter()
    if proc.returncode or proc.stderr:
        print(f"  [floor tmux call failed: {proc.stderr.strip()[:300]}]")
    return t1 - t0, t3 - t2


def floor_observe(root: Path, sock: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["tmux", "-L", sock, "list-panes", "-a", "-F", PANE_FORMAT],
                   check=False, capture_output=True)
    subprocess.run(["git", "-C", str(root), "worktree", "list", "--porcelain"],
                   check=False, capture_output=True)
    return time.perf_counter() - t0


def profile_table(prof: cProfile.Profile, title: str, divide: int = 1, top: int = 25) -> None:
    stats = pstats.Stats(prof)
    rows = []
    for (path, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(path).name}:{line}({func})" if line else func
        if "/reconciler/" in path:
            where = f"{path[path.index('/reconciler/') + 1:]}:{line}({func})"
        rows.append((ct, tt, nc, where))
    rows.sort(reverse=True)
    spawns = sum(nc for (p, _, f), (_c, nc, *_r) in stats.stats.items()  # type: ignore[attr-defined]
                 if f == "_execute_child")
    print(f"\n{title} (cProfile; per pass; {spawns / divide:g} subprocesses spawned per pass)")
    print(f"  {'cum ms':>9} {'self ms':>9} {'calls':>7}  function")
    for ct, tt, nc, where in rows[:top]:
        print(f"  {ct * 1000 / divide:9.1f} {tt * 1000 / divide:9.1f} {nc / divide:7g}  {where}")


# -- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="converge rounds (fresh fleets)")
    parser.add_argument("--noop-runs", type=int, default=20)
    parser.add_argument("--plan-runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print cProfile tables")
    args = parser.parse_args()

    orch = Path(sys.executable).parent / "orch"
    orch_cmd = [str(orch)] if orch.exists() else [sys.executable, "-m", "reconciler.cli.app"]
    tag = secrets.token_hex(4)
    sock, floor_sock = f"orch-bench-{tag}", f"orch-bench-{tag}-floor"
    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-rec-")).resolve()
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    seen: set[int] = set()  # pane pids of every server we started
    try:
        env = isolate(tmp, sock)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{WORKERS} workers, agent `sleep 3600`; tmux sockets {sock}, {floor_sock}; "
              f"temp {tmp}; load average {load}; {os.cpu_count()} CPUs")

        # warm-up: lazy imports (GitPython, libtmux, jinja2) and the page cache
        warm = make_fleet(tmp / "warm")
        engine.make_plan(d := engine.load(warm), engine.snapshot(d))
        floor_converge(tmp / "warm-floor", floor_sock)
        kill_server(floor_sock, seen, tmp)

        # (a) converge from empty
        orch_s, cli_s, floor_s, git_s, tmux_s = [], [], [], [], []
        root = tmp
        for r in range(args.rounds):
            if r:
                kill_server(sock, seen, tmp)
            cli_root = make_fleet(tmp / f"fleet-cli-{r}")
            t0 = time.perf_counter()
            cli = subprocess.run([*orch_cmd, "--root", str(cli_root), "reconcile"], env=env,
                                 check=False, capture_output=True, text=True)
            cli_s.append(time.perf_counter() - t0)
            cli_wt, cli_win = count_converged(cli_root, sock)
            if cli.returncode:
                print(f"  [orch reconcile exit {cli.returncode}: {cli.stderr.strip()[-300:]}]")
            kill_server(sock, seen, tmp)
            root = make_fleet(tmp / f"fleet-{r}")
            secs, result = converge(root)
            failed = [e for e in result.events if not e.ok]
            n_wt, n_win = count_converged(root, sock)
            g, t = floor_converge(tmp / f"floor-{r}", floor_sock)
            kill_server(floor_sock, seen, tmp)
            orch_s.append(secs)
            git_s.append(g)
            tmux_s.append(t)
            floor_s.append(g + t)
            print(f"  round {r + 1}: orch {secs:6.3f} s ({len(result.events)} events, "
                  f"{len(failed)} failed; {n_wt} worktrees, {n_win} live agent windows)   "
                  f"orch reconcile (process) {cli_s[-1]:6.3f} s ({cli_wt} worktrees, "
                  f"{cli_win} windows)   floor {g + t:6.3f} s (git {g:.3f} + tmux {t:.3f})")
            for e in failed[:3]:
                print(f"    failed: {e.worker} {e.verb}: {e.error}")
        c_orch, c_floor = statistics.median(orch_s), statistics.median(floor_s)
        c_cli = statistics.median(cli_s)
        c_ratio, cli_ratio = c_orch / c_floor, c_cli / c_floor
        print()
        print(f"(a) converge from empty, median of {args.rounds}:")
        print(f"    orch reconcile_pass(load(root))   {c_orch:7.3f} s  ({c_ratio:.2f}x floor)")
        print(f"    orch reconcile (a process)        {c_cli:7.3f} s  ({cli_ratio:.2f}x floor)")
        print(f"    floor: git loop + 1 tmux call     {c_floor:7.3f} s  "
              f"(git {statistics.median(git_s):.3f} s + tmux {statistics.median(tmux_s):.3f} s)")
        print(f"    ratio                             {c_ratio:7.2f}x  "
              f"(per worker: orch {c_orch / WORKERS * 1000:.1f} ms, "
              f"floor {c_floor / WORKERS * 1000:.1f} ms)")

        # (b) no-op pass on the converged fleet of the last round
        desired = engine.load(root)
        observed = engine.snapshot(desired)
        warm_plan = engine.make_plan(desired, observed)
        snap_ms, plan_ms, total_ms = [], [], []
        for _ in range(args.noop_runs):
            t0 = time.perf_counter()
            observed = engine.snapshot(desired)
            t1 = time.perf_counter()
            the_plan = engine.make_plan(desired, observed)
            t2 = time.perf_counter()
            snap_ms.append((t1 - t0) * 1000)
            plan_ms.append((t2 - t1) * 1000)
            total_ms.append((t2 - t0) * 1000)
        full_ms = []
        for _ in range(5):
            t0 = time.perf_counter()
            engine.reconcile_pass(desired)
            full_ms.append((time.perf_counter() - t0) * 1000)
        proc_ms, codes, errors = [], set(), []
        subprocess.run([*orch_cmd, "--root", str(root), "plan"], env=env, check=False,
                       capture_output=True)
        for _ in range(args.plan_runs):
            t0 = time.perf_counter()
            res = subprocess.run([*orch_cmd, "--root", str(root), "plan"], env=env,
                                 check=False, capture_output=True, text=True)
            proc_ms.append((time.perf_counter() - t0) * 1000)
            codes.add(res.returncode)
            if res.returncode not in (0, 2):
                errors.append((res.stdout + res.stderr).strip()[-400:])
        floor_observe(root, sock)
        floor_ms = [floor_observe(root, sock) * 1000 for _ in range(args.noop_runs)]
        n_ms, n_snap, n_plan = (statistics.median(x) for x in (total_ms, snap_ms, plan_ms))
        n_full, n_proc, n_floor = (statistics.median(x) for x in (full_ms, proc_ms, floor_ms))
        n_ratio = n_ms / n_floor
        print()
        print(f"(b) no-op pass after convergence ({len(warm_plan.actions)} actions planned; "
              f"{len(the_plan.actions)} on the last run):")
        print(f"    in-process snapshot + make_plan   {n_ms:7.1f} ms  (median of "
              f"{args.noop_runs}; snapshot {n_snap:.1f} + plan {n_plan:.1f}; "
              f"min {min(total_ms):.1f}, max {max(total_ms):.1f})")
        print(f"    in-process reconcile_pass (info)  {n_full:7.1f} ms  (median of 5; with lock, "
              f"apply, events)")
        print(f"    orch plan (process)               {n_proc:7.1f} ms  (median of "
              f"{args.plan_runs}; exit codes {sorted(codes)})")
        for err in errors[:2]:
            print(f"      [orch plan failed: {err}]")
        print(f"    floor: list-panes + worktree list {n_floor:7.1f} ms  (median of "
              f"{args.noop_runs}; 2 subprocesses)")
        print(f"    ratio in-process / floor          {n_ratio:7.2f}x")
        print(f"    ratio orch plan / floor           {n_proc / n_floor:7.2f}x")

        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.noop_runs):
                engine.make_plan(desired, engine.snapshot(desired))
            prof.disable()
            profile_table(prof, f"no-op snapshot + make_plan, {args.noop_runs} passes",
                          args.noop_runs)
            kill_server(sock, seen, tmp)
            proot = make_fleet(tmp / "fleet-profile")
            prof = cProfile.Profile()
            prof.enable()
            engine.reconcile_pass(engine.load(proot))
            prof.disable()
            profile_table(prof, "converge reconcile_pass(load(root)), 1 pass", 1, 35)

        print()
        ok = c_ratio <= CONVERGE_RATIO_TARGET
        print(f"{'PASS' if ok else 'MISS'}  converge: {c_orch:.3f} s vs floor {c_floor:.3f} s = "
              f"{c_ratio:.2f}x (target <= {CONVERGE_RATIO_TARGET}x)")
        ok = cli_ratio <= CONVERGE_RATIO_TARGET
        print(f"{'PASS' if ok else 'MISS'}  converge through `orch reconcile`: {c_cli:.3f} s vs "
              f"floor {c_floor:.3f} s = {cli_ratio:.2f}x (target <= {CONVERGE_RATIO_TARGET}x)")
        ok = n_ms <= NOOP_MS_TARGET
        print(f"{'PASS' if ok else 'MISS'}  no-op in-process: {n_ms:.1f} ms "
              f"(target <= {NOOP_MS_TARGET:.0f} ms)")
        ok = n_ratio <= NOOP_RATIO_TARGET
        print(f"{'PASS' if ok else 'MISS'}  no-op in-process vs floor: {n_ms:.1f} / "
              f"{n_floor:.1f} ms = {n_ratio:.2f}x (target <= {NOOP_RATIO_TARGET}x)")
    finally:
        for s in (sock, floor_sock):
            kill_server(s, seen, tmp)
        left = our_sleeps(tmp)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        print(f"cleanup: tmux servers killed; {len(seen)} agent pids seen, "
              f"{len(left)} `sleep 3600` left after kill-server"
              + (" (SIGKILLed)" if left else ""))
        for s in (sock, floor_sock):
            socket_file(s).unlink(missing_ok=True)
        restore_env(saved)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
