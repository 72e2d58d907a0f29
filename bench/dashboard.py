"""The dashboard over 100 running workers, each figure beside a floor from the same run.

Run with the project's venv:  .venv/bin/python bench/dashboard.py [--runs N]

(a) one dashboard refresh in-process (``Sampler.frame`` + ``render_text``,
    160x50): median of --runs (default 20), against the floor: what
    ``orch status`` computes in-process (``engine.snapshot`` + ``make_plan`` +
    ``status_rows``). Targets: at most 250 ms (a refresh a second leaves the
    machine 3/4 idle), at most 1.5x the floor.
(b) the reconciler's no-op pass (``engine.reconcile_pass``) while the
    session's `dashboard` window runs ``orch dashboard`` (as `orch reconcile`
    starts it), against the same pass with that dashboard paused (SIGSTOP),
    alternating: median of --runs each. Target: at most 1.2x (the dashboard
    never slows a pass).

The fleet is bench/reconcile.py's (100 ``sleep 3600`` workers on a private
socket ``orch-bench-<random>``); HOME is a temp folder; everything is killed and
removed in a finally. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import reconcile as fleet_bench

from reconciler.core.dashboard import render_text
from reconciler.core.rows import status_rows
from reconciler.loop import engine
from reconciler.loop.dashboard import Sampler

REFRESH_MS_TARGET = 250.0
REFRESH_RATIO_TARGET = 1.5
PASS_RATIO_TARGET = 1.2


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def dashboard_pids(sock: str) -> list[int]:
    """The python processes running in the session's `dashboard` window."""
    out = fleet_bench.tmux(sock, "list-panes", "-a", "-F", "#{window_name} #{pane_pid}").stdout
    shells = [int(line.split()[1]) for line in out.splitlines() if line.startswith("dashboard ")]
    import psutil

    return [c.pid for s in shells for c in psutil.Process(s).children(recursive=True)]


def interleaved(
    fn: Callable[[], object], pids: list[int], runs: int
) -> tuple[float, float]:
    """Median ms of ``fn`` with ``pids`` running and with them stopped (SIGSTOP), alternating,
    so that the machine's other load weighs on both alike."""
    timed: dict[bool, list[float]] = {True: [], False: []}
    try:
        for i in range(2 * runs):
            running = i % 2 == 0
            for pid in pids:
                os.kill(pid, signal.SIGCONT if running else signal.SIGSTOP)
            t0 = time.perf_counter()
            fn()
            timed[running].append((time.perf_counter() - t0) * 1000)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    return statistics.median(timed[True]), statistics.median(timed[False])


def line(ok: bool, text: str) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="cProfile one more refresh")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-dash-"))
    sock = f"orch-bench-{secrets.token_hex(4)}"
    saved = {k: os.environ.get(k) for k in fleet_bench.ENV_KEYS}
    os.environ.update(HOME=str(tmp), XDG_CONFIG_HOME=str(tmp / ".config"), ORCH_TMUX_SOCKET=sock)
    os.environ.pop("TMUX", None)
    seen: set[int] = set()
    try:
        root = fleet_bench.make_fleet(tmp / "fleet")
        engine.reconcile(engine.load(root, remember=True))
        sampler = Sampler(root)

        def refresh() -> None:
            render_text(sampler.frame(time.time(), 160, 50))

        def status() -> None:
            desired = engine.load(root, require_env=False)
            observed = engine.snapshot(desired)
            status_rows(desired, observed, engine.make_plan(desired, observed))

        refresh()  # the first refresh reads every log once
        floor = median_ms(status, args.runs)
        frame = median_ms(refresh, args.runs)
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.runcall(refresh)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        print(f"(a) refresh over {fleet_bench.WORKERS} workers: {frame:.1f} ms; "
              f"orch status's computation {floor:.1f} ms (median of {args.runs})")

        def one_pass() -> None:
            engine.reconcile_pass(engine.load(root))

        running = dashboard_pids(sock)
        with_dash, without = interleaved(one_pass, running, args.runs)
        print(f"(b) no-op pass with the dashboard running ({len(running)} process): "
              f"{with_dash:.1f} ms; paused: {without:.1f} ms (median of {args.runs} each, "
              "interleaved)")
        print()
        target = f"(target <= {REFRESH_MS_TARGET:.0f} ms)"
        line(frame <= REFRESH_MS_TARGET, f"refresh {frame:.1f} ms {target}")
        ratio = frame / floor
        line(ratio <= REFRESH_RATIO_TARGET,
             f"refresh vs orch status: {ratio:.2f}x (target <= {REFRESH_RATIO_TARGET}x)")
        ratio = with_dash / without
        line(ratio <= PASS_RATIO_TARGET,
             f"pass, dashboard running / paused: {ratio:.2f}x (target <= {PASS_RATIO_TARGET}x)")
    finally:
        fleet_bench.kill_server(sock, seen, tmp)
        left = fleet_bench.our_sleeps(tmp)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        print(f"cleanup: tmux server killed; {len(left)} `sleep 3600` left (SIGKILLed)")
        fleet_bench.socket_file(sock).unlink(missing_ok=True)
        fleet_bench.restore_env(saved)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
