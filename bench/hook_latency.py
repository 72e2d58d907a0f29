"""Hook latency: `orch hook PreToolUse` as Claude Code runs it, against bare Python start-up.

Run with the project's venv:  .venv/bin/python bench/hook_latency.py [-n 20]

Claude Code runs a claude worker's hooks before and after every tool call, and
waits for each. orch's settings file (reconciler/loop/claude_launch.py
write_settings, reconciler/core/hooks.py settings) makes each hook the shell
command ``<this python> -m reconciler hook EVENT``; this runs exactly that
command line through ``sh -c``, in a scratch worktree-like folder with the
agent's ORCH_* variables set and a PreToolUse event on stdin.

Prints (subprocess wall times in ms, measured in this run, interleaved so a
load change hits both alike):
  - ``sh -c '<python> -c pass'``: median, p95 and max of N runs (the floor);
  - ``sh -c '<python> -m reconciler hook PreToolUse'``: the same, and the
    difference of the medians;
  - a PASS/FAIL line: the hook's median against the 100 ms target.

Not a test: nothing is asserted. Everything runs in a temp folder with HOME
pointed there; the folder is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reconciler.core import hooks

TARGET_MS = 100.0  # the hook's median wall time, start-up included
EVENT = "PreToolUse"


def hook_command(python: str, event: str) -> str:
    """The shell command orch's settings file gives Claude Code for ``event``."""
    (entry,) = hooks.settings([python, "-m", "reconciler", "hook"])["hooks"][event]
    (hook,) = entry["hooks"]
    return str(hook["command"])


def percentile(times: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``times``."""
    ordered = sorted(times)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def figures(times: list[float]) -> str:
    return (
        f"median {statistics.median(times):6.1f}  p95 {percentile(times, 0.95):6.1f}  "
        f"max {max(times):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20, help="runs of each (default 20)")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the python that runs orch (default: this one, the venv's)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-hook-"))
    try:
        home, worktree = tmp / "home", tmp / "worktree"
        home.mkdir()
        (worktree / ".orch" / "signals").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            ORCH_WORKER="w1",
            ORCH_STAGE="work",
            ORCH_ATTEMPT="1",
            ORCH_WORKTREE=str(worktree),
            ORCH_SIGNAL_FILE=str(worktree / ".orch" / "signals" / "work.done"),
            ORCH_FAILED_FILE=str(worktree / ".orch" / "signals" / "work.failed"),
            ORCH_STOP_NUDGES="2",
        )
        event = json.dumps(
            {
                "session_id": "0b5e1c3a-bench",
                "hook_event_name": EVENT,
                "cwd": str(worktree),
                "transcript_path": str(home / "t.jsonl"),
                "tool_name": "Bash",
                "tool_input": {"command": "make test", "description": "run the tests"},
            }
        ).encode()
        hook = hook_command(args.python, EVENT)
        floor = f"{shlex.quote(args.python)} -c pass"
        runs: dict[str, list[float]] = {floor: [], hook: []}

        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"python: {args.python}  (load average {load}; {os.cpu_count()} CPUs)")
        print(f"hook command (from core.hooks.settings): {hook}")

        def run(command: str) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(
                ["sh", "-c", command], input=event, cwd=worktree, env=env,
                capture_output=True, check=False,
            )  # fmt: skip

        for command in runs:  # one warm-up each
            run(command)
        codes = set()
        for _ in range(args.runs):
            for command, times in runs.items():
                t0 = time.perf_counter()
                done = run(command)
                times.append((time.perf_counter() - t0) * 1000)
                if command == hook:
                    codes.add(done.returncode)
        recorded = len((worktree / ".orch" / "hooks.jsonl").read_text().splitlines())
        py_t, hook_t = runs[floor], runs[hook]
        print()
        print(f"python -c pass           {figures(py_t)}  ({args.runs} runs)")
        print(
            f"orch hook {EVENT}     {figures(hook_t)}  ({args.runs} runs; exit codes "
            f"{sorted(codes)}; {recorded} lines in hooks.jsonl)"
        )
        diff = statistics.median(hook_t) - statistics.median(py_t)
        print(f"difference of medians    {diff:6.1f} ms")
        print()
        median = statistics.median(hook_t)
        ok = median <= TARGET_MS
        print(
            f"{'PASS' if ok else 'FAIL'}  orch hook {EVENT}: median {median:.1f} ms "
            f"(target <= {TARGET_MS:.0f} ms; bare python {statistics.median(py_t):.1f} ms)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
