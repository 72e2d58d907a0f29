"""`orch repos` over 20 generated repos, against a shell loop of `git status` over the same repos.

Run with the project's venv:  .venv/bin/python bench/repos.py [--repos N] [--files N] [--rounds N]

Each generated repo is a clone of a bare origin of its own, holding ``--files``
tracked files (default 300, in 10 folders), two commits ahead of its upstream,
with two files modified, one staged and two untracked. Measured in the same
run, rounds interleaved, medians in ms:

  - the floor: ``sh -c 'for r in ...; do git -C "$r" status --porcelain=v2
    --branch >/dev/null; done'`` (one shell, one git per repo, one after another);
  - `orch repos` as a process (Python start-up, the specs, two git calls per
    repo in a thread pool, the table) with the specs remembered as a reconcile
    leaves them (state/desired.json) and, for information, without;
  - for information: `repo_rows()` in-process (the git part alone),
    `orch --help` (the CLI's start-up) and ``python -c pass``.

Prints each figure, the ratio `orch repos` / loop, and PASS/MISS for the
target (at most the loop's time). The CLI runs with bytecode caching on (as
an installed orch does), whatever PYTHONDONTWRITEBYTECODE says. Not a test:
nothing is asserted. Everything runs in a temp folder with HOME pointed
there; it is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGET_RATIO = 1.0


def git(cwd: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], env=env, check=True, capture_output=True)


def make_repo(tmp: Path, name: str, files: int, env: dict[str, str]) -> Path:
    """A clone of tmp/origins/<name>.git, 2 commits ahead, 2 modified, 1 staged, 2 untracked."""
    seed = tmp / "seeds" / name
    for i in range(files):
        path = seed / f"pkg{i % 10}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# module {i} of {name}\nVALUE = {i}\n" + "x = 1\n" * 20)
    git(seed.parent, "init", "-q", "-b", "main", name, env=env)
    git(seed, "add", "-A", env=env)
    git(seed, "commit", "-q", "-m", "initial", env=env)
    origin = tmp / "origins" / f"{name}.git"
    origin.parent.mkdir(exist_ok=True)
    git(tmp, "clone", "-q", "--bare", str(seed), str(origin), env=env)
    repo = tmp / "repos" / name
    repo.parent.mkdir(exist_ok=True)
    git(tmp, "clone", "-q", str(origin), str(repo), env=env)
    for n in (1, 2):
        (repo / f"ahead{n}.txt").write_text(f"{n}\n")
        git(repo, "add", f"ahead{n}.txt", env=env)
        git(repo, "commit", "-q", "-m", f"ahead {n}", env=env)
    (repo / "pkg0" / "mod0.py").write_text("changed\n")
    (repo / "pkg1" / "mod1.py").write_text("changed\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt", env=env)
    (repo / "loose1.txt").write_text("")
    (repo / "loose2.txt").write_text("")
    shutil.rmtree(seed)
    return repo


def make_control(tmp: Path, repos: list[Path]) -> Path:
    root = tmp / "ctl"
    (root / "specs").mkdir(parents=True)
    docs = "".join(
        f"---\napiVersion: orch/v1\nkind: Repo\nmetadata: {{name: {r.name}}}\n"
        f"spec: {{path: {r}}}\n"
        for r in repos
    )
    (root / "specs" / "repos.yaml").write_text(docs)
    return root


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--files", type=int, default=300, help="tracked files per repo")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    orch = str(Path(sys.executable).parent / "orch")
    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-repos-"))
    try:
        env = {**os.environ, "HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp / ".config"),
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "bench",
               "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
               "GIT_COMMITTER_EMAIL": "bench@localhost"}  # fmt: skip
        env.pop("ORCH_ROOT", None)
        # As an installed orch runs: bytecode cached after the warm-up run.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        repos = [make_repo(tmp, f"repo-{i:02d}", args.files, env) for i in range(args.repos)]
        root = make_control(tmp, repos)
        os.environ.update(HOME=env["HOME"], XDG_CONFIG_HOME=env["XDG_CONFIG_HOME"])
        measure(root, repos, orch, env, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(root: Path, repos: list[Path], orch: str, env: dict[str, str],
            args: argparse.Namespace) -> None:  # fmt: skip
    from reconciler.loop import desired_cache
    from reconciler.loop.repos import load_specs, repo_rows

    desired = load_specs(root)
    script = 'for r in "$@"; do git -C "$r" status --porcelain=v2 --branch >/dev/null; done'
    loop = ["sh", "-c", script, "sh", *map(str, repos)]
    cli = [orch, "--root", str(root), "repos"]
    check = run([*cli, "--json"], env)
    rows = json.loads(check.stdout)["repos"] if check.returncode == 0 else []
    good = [r for r in rows if not r["error"] and r["ahead"] == 2 and r["unstaged"] == 2
            and r["staged"] == 1 and r["untracked"] == 2]  # fmt: skip
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load}; {os.cpu_count()} CPUs; {shutil.which('git')}")
    print(f"{args.repos} repos of {args.files} tracked files (2 ahead, 2 modified, 1 staged, "
          f"2 untracked); orch repos --json read {len(good)} of {len(rows)} rows as built"
          + (f"  [exit {check.returncode}: {check.stderr.strip()[:200]}]" if check.returncode
             else ""))  # fmt: skip
    cold_env = {**env, "ORCH_BENCH_COLD": "1"}  # another ORCH_* value: the cache misses
    desired_cache.write(desired, env)  # as `orch reconcile` leaves it
    figures: dict[str, list[float]] = {
        "loop": [], "orch": [], "cold": [], "rows": [], "py": [], "help": [],
    }  # fmt: skip
    for fn in (lambda: run(loop, env), lambda: run(cli, env), lambda: repo_rows(desired)):
        fn()  # warm-up: page cache, git's index stat data
    for _ in range(args.rounds):
        figures["loop"].append(timed(lambda: run(loop, env)))
        figures["orch"].append(timed(lambda: run(cli, env)))
        figures["cold"].append(timed(lambda: run(cli, cold_env)))
        figures["rows"].append(timed(lambda: repo_rows(desired)))
        figures["py"].append(timed(lambda: run([sys.executable, "-c", "pass"], env)))
        figures["help"].append(timed(lambda: run([orch, "--help"], env)))
    med = {k: statistics.median(v) for k, v in figures.items()}
    rounds = f"median of {args.rounds}"
    print(f"shell loop of git status (floor)          {med['loop']:8.1f} ms  ({rounds})")
    print(f"orch repos (specs remembered)             {med['orch']:8.1f} ms  ({rounds})")
    print(f"orch repos (specs parsed)                 {med['cold']:8.1f} ms  (for information)")
    print(f"repo_rows() in-process (the git part)     {med['rows']:8.1f} ms  (for information)")
    print(f"orch --help (the CLI's own start-up)      {med['help']:8.1f} ms  (for information)")
    print(f"python -c pass                            {med['py']:8.1f} ms  (for information)")
    ratio = med["orch"] / med["loop"]
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(f"ratio orch repos / loop: {ratio:.2f}x (in-process: {med['rows'] / med['loop']:.2f}x); "
          f"target <= {TARGET_RATIO:.1f}x: {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
