"""The CPU time of every agent's process tree, as a pass measures it: one sweep.

Run with the project's venv:  .venv/bin/python bench/cpu_sweep.py [--trees N] [--runs N]

Starts N process trees (``sh -c 'sleep 600 & sleep 600 & wait'``, as agents
with children), then times, median of ``--runs``:

- floor: one ``psutil.process_iter(["ppid"])`` over every process (parent links only);
- sweep: ``proc.tree_cpu_by_root`` for all N trees (what a pass runs);
- per tree: ``proc.tree_cpu_seconds`` once per tree (a walk per worker).

Prints the figures, the ratios, and PASS/MISS against the target: the sweep
for 30 trees under 50 ms and under a third of a walk per tree. Not a test;
every process started is killed at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable

import psutil

from reconciler.drivers import proc

TARGET_MS = 50.0


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trees", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    trees = [
        subprocess.Popen(["sh", "-c", "sleep 600 & sleep 600 & wait"], start_new_session=True)
        for _ in range(args.trees)
    ]
    try:
        time.sleep(0.5)  # the children exist
        pids = [t.pid for t in trees]
        floor = median_ms(lambda: list(psutil.process_iter(["ppid"])), args.runs)
        sweep = median_ms(lambda: proc.tree_cpu_by_root(pids), args.runs)
        each = median_ms(lambda: [proc.tree_cpu_seconds(p) for p in pids], args.runs)
        total = len(psutil.pids())
        print(f"{args.trees} trees among {total} processes, median of {args.runs} runs")
        print(f"floor (parents only):      {floor:8.2f} ms")
        print(f"one sweep for all trees:   {sweep:8.2f} ms  ({sweep / floor:.1f}x floor)")
        print(f"a walk per tree:           {each:8.2f} ms  ({each / sweep:.1f}x the sweep)")
        ok = sweep < TARGET_MS and sweep < each / 3
        verdict = 'PASS' if ok else 'MISS'
        print(f"{verdict}: sweep under {TARGET_MS:.0f} ms and a third of the walks")
    finally:
        for tree in trees:
            proc.stop_process_group(tree.pid, grace=1.0)
            tree.wait()


if __name__ == "__main__":
    main()
