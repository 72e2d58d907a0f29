"""`orch backups` over many backup refs, and specs read at HEAD, against floors.

Run with the project's venv:  .venv/bin/python bench/backups.py [--backups N]

Builds, in a temp folder, a git repo with N backup refs (half of them commits of
uncommitted work, as a teardown writes them) and a control repo of 200 workers.
Then it times (median of 5):

  - list:     ``reconciler.loop.backups.repo_backups`` (every backup and what it holds);
  - floor:    ``git for-each-ref refs/orch/backups/`` alone, the one call no list avoids;
  - committed: ``engine.load`` with ``reconcile.source: committed`` (specs read at HEAD);
  - worktree:  the same load from the saved files;

and prints them in ms with PASS/MISS against the targets (list of 100 under 1 s;
committed at most 100 ms above worktree). Not a test: nothing is asserted. HOME
points into the temp folder, which is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RUNS = 5
LIST_TARGET_MS = 1000.0
COMMITTED_EXTRA_MS = 100.0


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def backed_up_repo(tmp: Path, count: int) -> Path:
    from reconciler.drivers.git import init_repo
    from reconciler.drivers.git_backup import backup_worktree

    repo = tmp / "repo"
    init_repo(repo)
    wt = tmp / "wt"
    git(repo, "worktree", "add", "-q", "-b", "orch/w", str(wt))
    for n in range(count):
        (wt / f"file{n}.txt").write_text(f"{n}\n")
        if n % 2:
            git(wt, "add", "-A")
            git(wt, "commit", "-q", "-m", f"c{n}")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(1_700_000_000 + n))
        backup_worktree(wt, f"refs/orch/backups/w{n % 10}/{stamp}", f"orch: backup of w{n % 10}")
    return repo


def control_repo(tmp: Path, workers: int) -> Path:
    from reconciler.drivers.git import init_repo

    root = tmp / "ctl"
    init_repo(root)
    (root / "specs").mkdir()
    (root / "config").mkdir()
    (root / "prompts").mkdir()
    (root / "prompts" / "p.md.j2").write_text("work\n")
    (root / "config" / "orch.yaml").write_text("reconcile: {source: committed}\n")
    docs = [
        "apiVersion: orch/v1\nkind: Repo\nmetadata: {name: app}\nspec: {path: ../repo}\n",
        "apiVersion: orch/v1\nkind: Agent\nmetadata: {name: a}\nspec: {command: [sh]}\n",
        ("apiVersion: orch/v1\nkind: Pipeline\nmetadata: {name: p}\n"
        "spec: {stages: [{name: s, prompt: prompts/p.md.j2}]}\n"),
    ]
    docs += [f"apiVersion: orch/v1\nkind: Worker\nmetadata: {{name: w{n}}}\n"
             f"spec: {{repo: app, pipeline: p, agent: a}}\n" for n in range(workers)]  # fmt: skip
    (root / "specs" / "fleet.yaml").write_text("---\n".join(docs))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "fleet")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backups", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-backups-"))
    old_home = os.environ.get("HOME")
    try:
        os.environ["HOME"] = str(tmp)
        os.environ["GIT_CONFIG_GLOBAL"] = str(tmp / ".gitconfig")
        (tmp / ".gitconfig").write_text("[user]\n\tname = bench\n\temail = bench@localhost\n")
        from reconciler.loop import engine
        from reconciler.loop.backups import repo_backups

        repo = backed_up_repo(tmp, args.backups)
        listed = median_ms(lambda: repo_backups("app", repo, "main", 60.0))
        floor = median_ms(lambda: git(repo, "for-each-ref", "refs/orch/backups/"))
        found = len(repo_backups("app", repo, "main", 60.0))
        verdict = "PASS" if listed <= LIST_TARGET_MS else "MISS"
        print(f"backups list: {found} backups {listed:.0f} ms; floor (for-each-ref) "
              f"{floor:.0f} ms; ratio {listed / floor:.1f}x; target <{LIST_TARGET_MS:.0f} ms "
              f"{verdict}")  # fmt: skip

        root = control_repo(tmp, 200)
        committed = median_ms(lambda: engine.load(root, {}, remember=True))
        (root / "config" / "orch.yaml").write_text("reconcile: {source: worktree}\n")
        worktree = median_ms(lambda: engine.load(root, {}, remember=True))
        extra = committed - worktree
        verdict = "PASS" if extra <= COMMITTED_EXTRA_MS else "MISS"
        print(f"load 200 workers: committed (at HEAD) {committed:.0f} ms; worktree "
              f"{worktree:.0f} ms; +{extra:.0f} ms; target <+{COMMITTED_EXTRA_MS:.0f} ms "
              f"{verdict}")  # fmt: skip
    finally:
        if old_home is not None:
            os.environ["HOME"] = old_home
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
