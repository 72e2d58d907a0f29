"""A pass over 100 workers while 10 run their setup and 10 are being stopped.

Run with the project's venv:  .venv/bin/python bench/busy_pass.py [--passes N]

Nothing waits inside a pass: setup commands run in the workers' own windows and
stops are sent, then verified on later passes. This builds a fleet of 100
workers on a private tmux socket: 80 sleepers, 10 whose Repo has a long setup
command (`sleep 600`), and 10 whose agent ignores SIGTERM. Once converged, the
10 stubborn ones are suspended (reconcile.stopGrace is 60 s, so they stay
"stopping" for the whole measurement) and N passes are timed in-process
(``engine.apply_pass``: observe, plan, apply, events), beside a no-op pass of
the same fleet before the suspension (the baseline, same run). Prints the
figures and PASS/MISS against the target (a busy pass under 1 s). Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import reconcile as common  # bench/reconcile.py: fleet and tmux helpers

from reconciler.drivers.git import init_repo
from reconciler.loop import engine
from reconciler.loop.state_store import reconciler_lock

TARGET_S = 1.0
SLEEPERS, SETUP, STUBBORN = 80, 10, 10

FLEET = """\
apiVersion: orch/v1
kind: Repo
metadata: {name: self}
spec: {path: ., defaultBranch: main}
---
apiVersion: orch/v1
kind: Repo
metadata: {name: slow}
spec: {path: ../slow, defaultBranch: main, setup: ["sleep 600"]}
---
apiVersion: orch/v1
kind: Agent
metadata: {name: sleeper}
spec: {command: [sleep, "3600"]}
---
apiVersion: orch/v1
kind: Agent
metadata: {name: stubborn}
spec: {command: [sh, -c, "trap '' TERM; exec sleep 3600"]}
---
apiVersion: orch/v1
kind: Pipeline
metadata: {name: bench}
spec:
  stages:
    - {name: work, prompt: playbooks/prompts/work.md.j2, stallTimeout: 10h, timeout: 20h}
"""


def worker(name: str, repo: str, agent: str, suspend: bool = False) -> str:
    flag = str(suspend).lower()
    return (
        f"---\napiVersion: orch/v1\nkind: Worker\nmetadata: {{name: {name}}}\n"
        f"spec: {{repo: {repo}, pipeline: bench, agent: {agent}, suspend: {flag}}}\n"
    )


def write_fleet(root: Path, suspended: bool) -> None:
    docs = [worker(f"s-{i:02d}", "self", "sleeper") for i in range(SLEEPERS)]
    docs += [worker(f"u-{i:02d}", "slow", "sleeper") for i in range(SETUP)]
    docs += [worker(f"t-{i:02d}", "self", "stubborn", suspended) for i in range(STUBBORN)]
    (root / "specs" / "fleet.yaml").write_text(FLEET + "".join(docs))


def make(tmp: Path) -> Path:
    init_repo(tmp / "slow")
    root = tmp / "ctl"
    init_repo(root)
    (root / ".gitignore").write_text("state/\nworktrees/\n")
    (root / "playbooks" / "prompts").mkdir(parents=True)
    (root / "playbooks" / "prompts" / "work.md.j2").write_text("Work as {{ worker }}.\n")
    (root / "specs").mkdir()
    (root / "config").mkdir()
    (root / "config" / "orch.yaml").write_text(
        "reconcile: {stopGrace: 60s, maxPruneFraction: 1.0}\n"
    )
    write_fleet(root, suspended=False)
    return root


def timed_passes(root: Path, n: int) -> tuple[list[float], int, int]:
    """Seconds of ``n`` passes, and the actions and stopping workers of the last one."""
    desired = engine.load(root)
    times, actions, stopping = [], 0, 0
    with reconciler_lock(desired.state_dir):
        for _ in range(n):
            t0 = time.perf_counter()
            result = engine.apply_pass(desired)
            times.append(time.perf_counter() - t0)
            actions, stopping = len(result.plan.actions), len(result.plan.stopping)
    return times, actions, stopping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=10)
    args = parser.parse_args()
    sock = f"orch-bench-{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-busy-")).resolve()
    saved = {k: os.environ.get(k) for k in common.ENV_KEYS}
    seen: set[int] = set()
    try:
        home = tmp / "home"
        home.mkdir()
        os.environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                          ORCH_TMUX_SOCKET=sock)  # fmt: skip
        root = make(tmp)
        t0 = time.perf_counter()
        engine.reconcile(engine.load(root))
        print(f"converged {SLEEPERS + SETUP + STUBBORN} workers in "
              f"{time.perf_counter() - t0:.2f} s (socket {sock}, temp {tmp})")
        idle, _, _ = timed_passes(root, args.passes)
        write_fleet(root, suspended=True)
        busy, actions, stopping = timed_passes(root, args.passes)
        status = engine.make_plan(d := engine.load(root), engine.snapshot(d)).statuses
        in_setup = sum(1 for n, s in status.items() if n.startswith("u-") and
                       s.reason == "running setup")  # fmt: skip
        print(f"  during the busy passes: {in_setup} workers in setup, {stopping} stopping "
              f"(TERM ignored; KILL only after 60 s), {actions} actions in the last pass")
        b, i = statistics.median(busy), statistics.median(idle)
        print(f"  no-op pass (baseline)     {i * 1000:7.1f} ms  (median of {args.passes})")
        print(f"  busy pass                 {b * 1000:7.1f} ms  (median of {args.passes}; "
              f"max {max(busy) * 1000:.1f}; first {busy[0] * 1000:.1f}: it sends the TERMs)")
        print(f"  ratio busy / no-op        {b / i:7.2f}x")
        ok = max(busy) < TARGET_S
        print(f"{'PASS' if ok else 'MISS'}  every busy pass under {TARGET_S:.0f} s "
              f"(max {max(busy):.3f} s)")
    finally:
        common.kill_server(sock, seen, tmp)
        with contextlib.suppress(OSError):
            common.socket_file(sock).unlink()
        common.restore_env(saved)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
