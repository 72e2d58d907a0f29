"""A thousand workers on one workstation: every figure at 100 and 1000 workers, beside its floor.

Run with the project's venv:  .venv/bin/python bench/scale.py [--sizes 100,1000]
    [--idle-seconds 60] [--noop-runs 10] [--profile]

For each fleet size N (agent `sleep 3600`, the fleet of bench/reconcile.py):

(a) converge from empty, in-process (``reconcile_pass(load(root))``), with the
    tmux calls it made (orch opens every new window in ONE ``tmux source-file``
    call); floor: a shell loop of N ``git worktree add -b`` plus the windows
    opened by the fewest tmux calls: ONE ``source-file`` of N bare
    ``new-window`` lines. For contrast, the same windows as ONE chained argv
    call, which tmux refuses past its command-length limit (about 16 KB).
(b) ``git worktree add`` alone, one more at N worktrees (ms), and its file
    system calls on the other worktrees' metadata (strace, when present).
(c) a no-op tick in-process (``snapshot`` + ``make_plan``, median of
    --noop-runs), floor: ``tmux list-panes -a`` + ``git worktree list``.
(d) ``orch plan`` and ``orch status`` as processes, beside ``python -c pass``.
(e) ``orch reconcile --watch`` idle over the converged fleet (resync 10 s, the
    default) for --idle-seconds: CPU % of one core, peak RSS, threads.

Targets at 1000 workers: no-op tick <= 100 ms; `orch status` <= 300 ms over
`python -c pass`; idle watch <= 2 % of a core, <= 150 MB, threads bounded.
Not a test: it prints figures and PASS/MISS lines, and asserts nothing.
Isolation and cleanup as bench/reconcile.py (private sockets, HOME in a temp
folder; tmux servers killed, `sleep 3600`s checked gone, temp folder removed).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import reconcile as common  # bench/reconcile.py: the fleet, floors, tmux helpers
import watch as watch_bench  # bench/watch.py: the watch process, /proc readings

from reconciler.drivers.tmux import Tmux
from reconciler.drivers.tmux_argv import chain, config_line
from reconciler.loop import engine

NOOP_MS_TARGET = 100.0
STATUS_OVER_PYTHON_MS = 300.0
CPU_TARGET, RSS_TARGET_MB, THREADS_TARGET = 2.0, 150.0, 20


@contextlib.contextmanager
def counting_tmux() -> Iterator[list[list[str]]]:
    """Record every tmux invocation of the driver (the real one runs) while inside."""
    calls: list[list[str]] = []
    real = Tmux._call

    def counted(self: Tmux, argv: Any, timeout: float | None = None) -> Any:
        calls.append(list(argv))
        return real(self, argv, timeout)

    Tmux._call = counted  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        Tmux._call = real  # type: ignore[method-assign]


def floor_git(repo: Path, n: int) -> float:
    """Seconds of a shell loop of ``n`` ``git worktree add -b`` (as bench/reconcile.py's floor)."""
    script = ('cd "$1" || exit 1; i=0; while [ $i -lt "$2" ]; do '
              'git worktree add --quiet -b "floor/w-$i" "$3/w-$i" main || exit 1; '
              "i=$((i+1)); done")  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", script, "sh", str(repo), str(n), str(repo / "worktrees" / "self")],
                   check=False, capture_output=True)  # fmt: skip
    return time.perf_counter() - t0


def server_gone(sock: str, seconds: float = 5.0) -> None:
    """Wait until no tmux server answers on ``sock`` (kill-server returns before it exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        err = common.tmux(sock, "list-sessions").stderr
        if "no server running" in err or "error connecting" in err:
            return
        time.sleep(0.02)


def floor_tmux(sock: str, wt_root: Path, n: int) -> dict[str, Any]:
    """The floor's windows: one chained argv call (ok or refused), then one source-file."""
    windows = [["new-window", "-d", "-t", "floor:", "-c", str(wt_root / f"w-{i}"),
                "exec sleep 3600"] for i in range(n)]  # fmt: skip
    one = ["new-session", "-d", "-s", "floor", ";", *chain(windows)]
    t0 = time.perf_counter()
    done = common.tmux(sock, *one)
    one_s = time.perf_counter() - t0
    refused = done.stderr.strip() if done.returncode or done.stderr else ""
    common.tmux(sock, "kill-server")
    server_gone(sock)
    common.tmux(sock, "new-session", "-d", "-s", "floor")
    lines = wt_root.parent / "floor-windows.conf"
    lines.write_text("".join(config_line([w]) + "\n" for w in windows))
    t0 = time.perf_counter()
    failed = bool(common.tmux(sock, "source-file", str(lines)).returncode)
    source_s = time.perf_counter() - t0
    made = len(common.tmux(sock, "list-windows", "-t", "=floor", "-F", "x").stdout.split()) - 1
    one_bytes = sum(len(part.encode()) + 1 for part in one)  # as tmux's client packs argv
    return {"one_s": one_s, "one_bytes": one_bytes, "refused": refused,
            "source_s": source_s, "source_failed": failed, "source_windows": made}  # fmt: skip


def one_more_add(repo: Path) -> tuple[float, int | None]:
    """ms of one more ``git worktree add -b`` in ``repo``; its file syscalls on the OTHER worktrees.

    Measured with strace (git 2.39): the add lists every registered worktree
    (reading its gitdir, HEAD, commondir, and the ref HEAD names) to refuse a
    path already registered and a branch checked out elsewhere: about 11 calls
    per worktree, so each add costs O(N) and a fleet's converge O(N^2).
    """
    argv = ["git", "-C", str(repo), "worktree", "add", "--quiet", "-b", "floor/extra",
            str(repo / "worktrees" / "self" / "extra"), "main"]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(argv, check=False, capture_output=True)
    ms = (time.perf_counter() - t0) * 1000
    if not shutil.which("strace"):
        return ms, None
    extra = str(repo / "worktrees" / "self" / "extra")
    subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", extra],
                   check=False, capture_output=True)  # fmt: skip
    subprocess.run(["git", "-C", str(repo), "branch", "-D", "floor/extra"], check=False,
                   capture_output=True)  # fmt: skip
    trace = repo.parent / "add.strace"
    subprocess.run(["strace", "-f", "-e", "trace=%file", "-o", str(trace), *argv], check=False,
                   capture_output=True)  # fmt: skip
    others = [line for line in trace.read_text().splitlines() if "/worktrees/w-" in line]
    return ms, len(others)


def cpu_ms() -> float:
    """CPU ms so far of this process (all threads) and of its reaped children."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (time.process_time() + kids.ru_utime + kids.ru_stime) * 1000


def timed(fn: Any, runs: int) -> tuple[float, float]:
    """Median wall ms and median CPU ms (with children) of ``runs`` calls of ``fn``.

    The CPU figure barely moves with the machine's load; the wall figure does.
    """
    walls, cpus = [], []
    for _ in range(runs):
        c0, t0 = cpu_ms(), time.perf_counter()
        fn()
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append(cpu_ms() - c0)
    return statistics.median(walls), statistics.median(cpus)


def noop_tick(root: Path, sock: str, runs: int, profile: bool) -> dict[str, Any]:
    desired = engine.load(root)
    engine.make_plan(desired, engine.snapshot(desired))  # warm
    plans = []

    def tick_once() -> None:
        plans.append(engine.make_plan(desired, engine.snapshot(desired)))

    tick, tick_cpu = timed(tick_once, runs)
    floor, floor_cpu = timed(lambda: common.floor_observe(root, sock), runs)
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(runs):
            engine.make_plan(desired, engine.snapshot(desired))
        prof.disable()
        common.profile_table(prof, f"no-op tick at {len(desired.workers)} workers", runs, 20)
    return {"tick_ms": tick, "tick_cpu": tick_cpu, "floor_ms": floor, "floor_cpu": floor_cpu,
            "actions": len(plans[-1].actions)}  # fmt: skip


def processes(root: Path, env: dict[str, str], orch_cmd: list[str]) -> dict[str, float]:
    """`orch plan` and `orch status` as a user runs them: after a reconcile remembered the specs.

    Bytecode is written (PYTHONDONTWRITEBYTECODE unset, as in a normal install).
    """
    engine.load(root, remember=True)
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out: dict[str, float] = {}
    for key, argv in (("python", [sys.executable, "-c", "pass"]),
                      ("plan", [*orch_cmd, "--root", str(root), "plan"]),
                      ("status", [*orch_cmd, "--root", str(root), "status"])):  # fmt: skip
        subprocess.run(argv, env=env, check=False, capture_output=True)  # warm: bytecode, cache
        wall, cpu = timed(lambda a=argv: subprocess.run(a, env=env, check=False,
                                                        capture_output=True), 5)  # fmt: skip
        out[f"{key}_ms"], out[f"{key}_cpu"] = wall, cpu
    return out


def idle_watch(root: Path, sock: str, seconds: float) -> dict[str, Any]:
    watch = watch_bench.Watch(root, sock)
    try:
        if not watch.wait_for(lambda d: "watching" in d.get("notice", ""), 60):
            return {"error": f"watch did not start: {watch.lines[-3:]}"}
        time.sleep(min(15.0, max(5.0, seconds / 4)))  # the first pass and its watches are done
        pid = watch.proc.pid
        own0, _ = watch_bench.proc_cpu(pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        own1, _ = watch_bench.proc_cpu(pid)
        if watch.proc.poll() is not None:
            return {"error": f"watch exited {watch.proc.returncode}"}
        hwm = watch_bench.proc_status(pid, "VmHWM")
        return {"cpu": (own1 - own0) / (time.monotonic() - t0) * 100,
                "rss_mb": int(hwm.split()[0]) / 1024,
                "threads": int(watch_bench.proc_status(pid, "Threads"))}  # fmt: skip
    finally:
        watch.stop()


def one_size(n: int, tmp: Path, args: argparse.Namespace, env: dict[str, str],
             orch_cmd: list[str], seen: set[int]) -> dict[str, Any]:  # fmt: skip
    common.WORKERS = n
    sock, floor_sock = env["ORCH_TMUX_SOCKET"], env["ORCH_TMUX_SOCKET"] + "-floor"
    print(f"-- {n} workers (load average {os.getloadavg()[0]:.2f})", flush=True)
    root = common.make_fleet(tmp / f"fleet-{n}")
    with counting_tmux() as calls:
        secs, result = common.converge(root)
    out: dict[str, Any] = {"converge_s": secs, "failed": sum(not e.ok for e in result.events),
                           "tmux_calls": len(calls),
                           "window_calls": sum(c[0] == "source-file" or "new-window" in c
                                               for c in calls)}  # fmt: skip
    floor_repo = tmp / f"floor-{n}"
    common.init_repo(floor_repo)
    git_s = floor_git(floor_repo, n)
    out |= {"floor_git_s": git_s, "add_ms_avg": git_s / n * 1000}
    out |= floor_tmux(floor_sock, floor_repo / "worktrees" / "self", n)
    common.kill_server(floor_sock, seen, tmp)
    out["floor_s"] = git_s + out["source_s"]
    out["add_one_ms"], out["add_opened"] = one_more_add(floor_repo)
    out |= noop_tick(root, sock, args.noop_runs, args.profile and n == max(args.sizes))
    out |= processes(root, env, orch_cmd)
    if args.idle_seconds > 0:
        out |= idle_watch(root, sock, args.idle_seconds)
    common.kill_server(sock, seen, tmp)
    shutil.rmtree(floor_repo, ignore_errors=True)
    print(f"   done: {out}", flush=True)
    return out


ROWS: list[tuple[str, Any]] = [
    ("(a) converge in-process (s)", lambda r: f"{r['converge_s']:.1f} ({r['failed']} failed)"),
    ("    its tmux calls (window-opening calls)",
     lambda r: f"{r['tmux_calls']} ({r['window_calls']} source-file)"),
    ("    floor: git loop + one source-file (s)",
     lambda r: f"{r['floor_s']:.1f} = {r['floor_git_s']:.1f} + {r['source_s']:.2f}"),
    ("    ratio", lambda r: f"{r['converge_s'] / r['floor_s']:.2f}x"),
    ("    floor's windows as ONE argv call",
     lambda r: (f"{r['refused'][:16]}" if r["refused"] else f"{r['one_s']:.2f} s")
     + f" ({r['one_bytes']} B)"),
    ("    floor's ONE source-file call",
     lambda r: f"{r['source_s']:.2f} s, {r['source_windows']} windows"
     + (" (failed)" if r["source_failed"] else "")),
    ("(b) git worktree add, mean of the loop (ms)", lambda r: f"{r['add_ms_avg']:.1f}"),
    ("    one more add at N worktrees (ms)", lambda r: f"{r['add_one_ms']:.1f}"),
    ("    its file syscalls on other worktrees", lambda r: f"{r['add_opened']}"),
    ("(c) no-op tick in-process (ms; CPU ms)",
     lambda r: f"{r['tick_ms']:.1f}; {r['tick_cpu']:.0f} ({r['actions']} actions)"),
    ("    floor: list-panes + worktree list",
     lambda r: f"{r['floor_ms']:.1f}; {r['floor_cpu']:.0f}"),
    ("    ratio (wall; CPU)", lambda r: f"{r['tick_ms'] / r['floor_ms']:.2f}x; "
     f"{r['tick_cpu'] / max(r['floor_cpu'], 1e-9):.2f}x"),
    ("(d) python -c pass (ms; CPU ms)", lambda r: f"{r['python_ms']:.0f}; {r['python_cpu']:.0f}"),
    ("    orch plan, a process", lambda r: f"{r['plan_ms']:.0f}; {r['plan_cpu']:.0f}"),
    ("    orch status, a process",
     lambda r: f"{r['status_ms']:.0f}; {r['status_cpu']:.0f} "
     f"(+{r['status_ms'] - r['python_ms']:.0f}; +{r['status_cpu'] - r['python_cpu']:.0f})"),
    ("(e) idle watch: CPU % of a core", lambda r: f"{r['cpu']:.2f}" if "cpu" in r else "-"),
    ("    peak RSS (MB)", lambda r: f"{r['rss_mb']:.0f}" if "rss_mb" in r else "-"),
    ("    threads", lambda r: f"{r['threads']}" if "threads" in r else r.get("error", "-")),
]


def report(results: dict[int, dict[str, Any]]) -> None:
    sizes = sorted(results)
    print()
    print(f"{'measure':44}" + "".join(f"{f'{n} workers':>28}" for n in sizes))
    for title, cell in ROWS:
        print(f"{title:44}" + "".join(f"{cell(results[n]):>28}" for n in sizes))
    big = results[sizes[-1]]
    print()
    checks = [
        (big["tick_ms"] <= NOOP_MS_TARGET, f"no-op tick {big['tick_ms']:.1f} ms <= 100 ms"),
        (big["status_ms"] - big["python_ms"] <= STATUS_OVER_PYTHON_MS,
         f"orch status {big['status_ms'] - big['python_ms']:.0f} ms over python <= 300 ms"),
        (not big["failed"] and big["window_calls"] == 1,
         f"windows opened in {big['window_calls']} tmux call(s) (target 1), none failed"),
    ]
    if "cpu" in big:
        checks += [
            (big["cpu"] <= CPU_TARGET, f"idle watch {big['cpu']:.2f} % <= {CPU_TARGET} %"),
            (big["rss_mb"] <= RSS_TARGET_MB, f"idle watch {big['rss_mb']:.0f} MB <= 150 MB"),
            (big["threads"] <= THREADS_TARGET, f"idle watch {big['threads']} threads <= 20"),
        ]
    for ok, text in checks:
        print(f"{'PASS' if ok else 'MISS'}  at {sizes[-1]} workers: {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="fleet sizes, comma-separated")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="0: no idle watch")
    parser.add_argument("--noop-runs", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="cProfile the largest no-op tick")
    args = parser.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",")]

    orch = Path(sys.executable).parent / "orch"
    orch_cmd = [str(orch)] if orch.exists() else [sys.executable, "-m", "reconciler.cli.app"]
    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-scale-")).resolve()
    saved = {k: os.environ.get(k) for k in common.ENV_KEYS}
    seen: set[int] = set()
    sock = f"orch-bench-{secrets.token_hex(4)}"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"bench/scale.py: sizes {args.sizes}, {os.cpu_count()} CPUs, load average {load}; "
          f"temp {tmp}", flush=True)
    results: dict[int, dict[str, Any]] = {}
    try:
        env = common.isolate(tmp, sock)
        for n in args.sizes:
            results[n] = one_size(n, tmp, args, env, orch_cmd, seen)
        report(results)
    finally:
        for s in (sock, sock + "-floor"):
            common.kill_server(s, seen, tmp)
            with contextlib.suppress(OSError):
                common.socket_file(s).unlink()
        left = common.our_sleeps(tmp)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
        common.restore_env(saved)
        print(f"cleanup: tmux servers killed, {len(left)} `sleep 3600` left (killed), "
              f"temp folder removed; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
