"""CLI start-up: `orch --help`, `validate`, `status` over 100 workers, against bare Python.

Run with the project's venv:  .venv/bin/python bench/cli_startup.py [--orch PATH]

Prints (all subprocess wall times, measured in this run):
  - `python -c pass` and `orch --help`: median of 10, and their difference;
  - `orch validate` on this repository's example fleet, and `orch status` on a
    fleet of 100 running workers (converged in-process first, on a private
    tmux socket): medians, and their difference to `python -c pass`;
  - `orch validate` on a generated fleet of 500 workers, as (a) one WorkerSet of
    500 items (in config/items.yaml) and (b) 500 Worker documents: median of 5;
  - the top modules `orch --help` imports (python -X importtime);
  - one PASS/MISS line per target.

Not a test: nothing is asserted. Everything runs in a temp folder with HOME
pointed there; the folder is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import reconciler
from reconciler.drivers.git import init_repo

HELP_TARGET_MS = 150.0  # orch --help and orch validate (example fleet) at most this much above
STATUS_TARGET_MS = 250.0  # orch status over 100 workers at most this much above bare Python
STATUS_WORKERS = 100
PROJECT = Path(__file__).resolve().parents[1]
VALIDATE_TARGET_S = 1.0
WORKERS = 500

HEAD = """\
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
  name: bench
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
"""

WORKER_SET = """\
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
    agent: bench
    vars: {topic: "{{ item.topic }}"}
"""

WORKER_DOC = """\
---
apiVersion: orch/v1
kind: Worker
metadata:
  name: w-{i}
spec:
  repo: self
  pipeline: bench
  agent: bench
  vars: {{topic: "task number {i}"}}
"""


def make_fleet(root: Path, as_set: bool) -> Path:
    """A control repo with 500 workers: one WorkerSet, or 500 Worker documents."""
    init_repo(root)
    (root / ".gitignore").write_text("state/\nworktrees/\n")
    (root / "playbooks" / "prompts").mkdir(parents=True)
    (root / "playbooks" / "prompts" / "work.md.j2").write_text(
        "Work on {{ vars.topic }} in {{ worker }}.\n")
    (root / "specs").mkdir()
    (root / "config").mkdir()
    if as_set:
        (root / "specs" / "fleet.yaml").write_text(HEAD + WORKER_SET)
        items = "".join(f"- {{id: {i}, topic: \"task number {i}\"}}\n" for i in range(WORKERS))
        (root / "config" / "items.yaml").write_text(items)
    else:
        docs = "".join(WORKER_DOC.format(i=i) for i in range(WORKERS))
        (root / "specs" / "fleet.yaml").write_text(HEAD + docs)
    return root


Result = subprocess.CompletedProcess[str]


def time_cmd(argv: list[str], env: dict[str, str], runs: int,
             cwd: Path | None = None) -> tuple[float, list[float], Result]:
    """Median wall time in ms of ``runs`` runs (after one warm-up), all times, last result."""
    # one warm-up run first
    last = subprocess.run(argv, env=env, cwd=cwd, check=False, capture_output=True, text=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        last = subprocess.run(argv, env=env, cwd=cwd, check=False, capture_output=True, text=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), times, last


def spread(times: list[float]) -> str:
    return f"min {min(times):.1f}, max {max(times):.1f}"


def import_times(python: str, orch: str, env: dict[str, str]) -> list[tuple[int, int, int, str]]:
    """(cumulative us, self us, depth, module) of every import of `orch --help` (-X importtime)."""
    proc = subprocess.run([python, "-X", "importtime", orch, "--help"], env=env,
                          check=False, capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(cum_us), int(self_us), depth, name.strip()))
    return rows


def _note(res: Result) -> str:
    if res.returncode == 0:
        return ""
    return f"  [exit {res.returncode}: {(res.stdout + res.stderr).strip()[:300]}]"


def status_over_fleet(tmp: Path, orch: str, env: dict[str, str],
                      runs: int) -> tuple[float, list[float], Result]:
    """Converge STATUS_WORKERS sleepers in-process on a private socket; time `orch status`."""
    sys.path.insert(0, str(Path(__file__).parent))
    import reconcile as fleet_bench  # bench/reconcile.py: the same 100-sleeper fleet

    sock = f"orch-bench-{secrets.token_hex(4)}"
    root = fleet_bench.make_fleet(tmp / "status")
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_CONFIG_HOME", "ORCH_TMUX_SOCKET")}
    os.environ.update(HOME=env["HOME"], XDG_CONFIG_HOME=env["XDG_CONFIG_HOME"],
                      ORCH_TMUX_SOCKET=sock)
    seen: set[int] = set()
    try:
        cmd_env = {**env, "ORCH_TMUX_SOCKET": sock}
        # As a user runs it: `orch reconcile` (which remembers the validated specs) first.
        done = subprocess.run([orch, "--root", str(root), "reconcile"], env=cmd_env,
                              check=False, capture_output=True, text=True)
        if done.returncode:
            print(f"  [orch reconcile exit {done.returncode}: {done.stderr.strip()[-300:]}]")
        cold = time_cmd([orch, "--root", str(root), "status"],
                        {**cmd_env, "ORCH_COLD": "1"}, runs)  # another env: the cache misses
        print(f"orch status, 100 workers, specs not remembered  {cold[0]:8.1f} ms  (median of "
              f"{runs}; {spread(cold[1])}; for information)")
        return time_cmd([orch, "--root", str(root), "status"], cmd_env, runs)
    finally:
        fleet_bench.kill_server(sock, seen, tmp)
        with contextlib.suppress(OSError):
            fleet_bench.socket_file(sock).unlink()
        fleet_bench.restore_env(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--help-runs", type=int, default=10)
    parser.add_argument("--validate-runs", type=int, default=5)
    parser.add_argument("--status-runs", type=int, default=10)
    parser.add_argument("--orch", type=Path, default=None,
                        help="the orch console script to measure (default: beside this python)")
    args = parser.parse_args()

    python = sys.executable
    orch = args.orch or Path(python).parent / "orch"
    if not orch.exists():
        found = shutil.which("orch")
        if found is None:
            sys.exit("no orch console script next to this python or on PATH")
        orch = Path(found)

    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-cli-"))
    try:
        home = tmp / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("ORCH_ROOT", "TMUX")}
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))

        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"python: {python}  (load average {load}; {os.cpu_count()} CPUs)")
        print(f"orch:   {orch}")
        pkg = Path(reconciler.__file__).parent
        cached = any((pkg / "__pycache__").glob(f"cli.{sys.implementation.cache_tag}.pyc"))
        print(f"bytecode of reconciler: {'cached' if cached else 'NOT cached (compiled every run)'}"
              f"; PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
        print()
        # interleaved, so that a load change on the machine hits both alike
        py_t: list[float] = []
        help_t: list[float] = []
        runs = [[python, "-c", "pass"], [str(orch), "--help"]]
        for argv in runs:
            subprocess.run(argv, env=env, check=False, capture_output=True)  # warm-up
        for _ in range(args.help_runs):
            for argv, times in zip(runs, (py_t, help_t), strict=True):
                t0 = time.perf_counter()
                help_res = subprocess.run(argv, env=env, check=False, capture_output=True,
                                          text=True)
                times.append((time.perf_counter() - t0) * 1000)
        py_ms, help_ms = statistics.median(py_t), statistics.median(help_t)
        diff = help_ms - py_ms
        print(f"python -c pass     {py_ms:8.1f} ms  (median of {args.help_runs}; {spread(py_t)})")
        print(f"orch --help        {help_ms:8.1f} ms  (median of {args.help_runs}; "
              f"{spread(help_t)})"
              + ("" if help_res.returncode == 0 else f"  [exit {help_res.returncode}]"))
        print(f"difference         {diff:8.1f} ms  "
              f"(orch --help is {help_ms / py_ms:.2f}x bare Python)")
        print()

        results = {}
        for label, as_set in (("(a) 1 WorkerSet x 500 items", True),
                              ("(b) 500 Worker documents  ", False)):
            root = make_fleet(tmp / ("set" if as_set else "docs"), as_set)
            ms, t, res = time_cmd([str(orch), "--root", str(root), "validate"], env,
                                  args.validate_runs)
            results[label] = ms
            note = "" if res.returncode == 0 else \
                f"  [exit {res.returncode}: {(res.stdout + res.stderr).strip()[:300]}]"
            print(f"orch validate {label} {ms:8.1f} ms  (median of {args.validate_runs}; "
                  f"{spread(t)}; {ms / py_ms:.1f}x bare Python){note}")
        print()

        small = {}
        ms, t, res = time_cmd([str(orch), "--root", str(PROJECT), "validate"], env,
                              args.status_runs)
        small["orch validate (example fleet)"] = (ms, HELP_TARGET_MS)
        print(f"orch validate, example fleet  {ms:8.1f} ms  (median of {args.status_runs}; "
              f"{spread(t)}; +{ms - py_ms:.1f} ms)" + _note(res))
        ms, t, res = status_over_fleet(tmp, str(orch), env, args.status_runs)
        small[f"orch status ({STATUS_WORKERS} workers)"] = (ms, STATUS_TARGET_MS)
        print(f"orch status, {STATUS_WORKERS} workers        {ms:8.1f} ms  (median of "
              f"{args.status_runs}; {spread(t)}; +{ms - py_ms:.1f} ms)" + _note(res))
        print()

        rows = import_times(python, str(orch), env)
        if rows:
            print("imports of `orch --help` (python -X importtime, one run; depth 0 = top level):")
            print("  top 5 by cumulative time:")
            for cum, self_us, depth, name in sorted(rows, reverse=True)[:5]:
                print(f"    {cum / 1000:6.1f} ms cumulative  {self_us / 1000:5.1f} ms self  "
                      f"depth {depth}  {name}")
            print("  top 5 by self time:")
            for cum, self_us, depth, name in sorted(rows, key=lambda r: -r[1])[:5]:
                print(f"    {self_us / 1000:6.1f} ms self  {cum / 1000:5.1f} ms cumulative  "
                      f"depth {depth}  {name}")
            print()

        ok = diff <= HELP_TARGET_MS
        print(f"{'PASS' if ok else 'MISS'}  orch --help: {diff:.1f} ms above bare Python "
              f"({help_ms:.1f} vs {py_ms:.1f} ms; target <= {HELP_TARGET_MS:.0f} ms)")
        for label, (ms, target) in small.items():
            ok = ms - py_ms <= target
            print(f"{'PASS' if ok else 'MISS'}  {label}: {ms - py_ms:.1f} ms above bare Python "
                  f"(target <= {target:.0f} ms)")
        for label, ms in results.items():
            ok = ms < VALIDATE_TARGET_S * 1000
            print(f"{'PASS' if ok else 'MISS'}  orch validate {label.strip()}: {ms / 1000:.3f} s "
                  f"(target < {VALIDATE_TARGET_S:.0f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
