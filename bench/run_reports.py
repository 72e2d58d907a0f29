"""Run reports for 100 workers: a cold render, a warm one, one moved branch, against a floor.

Run with the project's venv:  .venv/bin/python bench/run_reports.py

Builds, in a temp folder, a control repo whose WorkerSet has 100 items and a
target repo with their 100 branches (one commit each beyond main). Then it
times (median of 5):

  - cold:   ``write_run_reports`` with no git cache (two git calls a worker);
  - warm:   the same render again, nothing moved (one ``for-each-ref``);
  - moved:  one branch gets a commit, then a render (one worker asks git);
  - floor:  one ``git for-each-ref`` of the repo, the call no render avoids;

and prints them in ms with the number of workers whose git facts were read,
and PASS/MISS for "a warm render of 100 workers runs 1 git process, under
250 ms". Not a test: nothing is asserted. HOME and the git config point into
the temp folder, which is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

WORKERS = 100
RUNS = 5
TARGET_MS = 250.0


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True, input=stdin)  # fmt: skip
    return done.stdout


def build(tmp: Path) -> Path:
    """The control repo (specs, prompt) and the target repo with a branch a worker."""
    from reconciler.drivers.git import init_repo

    repo, root = tmp / "repo", tmp / "ctl"
    init_repo(repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    updates = []
    for i in range(WORKERS):
        sha = git(repo, "commit-tree", tree, "-p", base, "-m", f"work of w{i}").strip()
        updates.append(f"create refs/heads/orch/w{i} {sha}\n")
    git(repo, "update-ref", "--stdin", stdin="".join(updates))
    init_repo(root)
    (root / "prompt.md.j2").write_text("work\n")
    (root / "specs").mkdir()
    items = ", ".join(f"{{id: {i}}}" for i in range(WORKERS))
    (root / "specs" / "fleet.yaml").write_text(f"""\
apiVersion: orch/v1
kind: Repo
metadata: {{name: app}}
spec: {{path: {repo}}}
---
apiVersion: orch/v1
kind: Agent
metadata: {{name: bot}}
spec: {{command: [sh, -c, "true"]}}
---
apiVersion: orch/v1
kind: Pipeline
metadata: {{name: p}}
spec: {{stages: [{{name: work, prompt: prompt.md.j2}}]}}
---
apiVersion: orch/v1
kind: WorkerSet
metadata: {{name: s}}
spec:
  items: [{items}]
  nameTemplate: "w{{{{ item.id }}}}"
  template: {{repo: app, pipeline: p, agent: bot}}
""")
    return root


def rows(desired: Any) -> list[dict[str, Any]]:
    return [{"name": n, "phase": "Succeeded", "stage": None, "stageIndex": 1, "stages": 1,
             "attempt": 1, "restarts": 0, "branch": w.branch, "repo": w.repo,
             "reason": "all stages done", "costUsd": None, "worktree": None}
            for n, w in desired.workers.items()]  # fmt: skip


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000, out


def main() -> None:
    from reconciler.loop.run_reports import CACHE, write_run_reports
    from reconciler.spec.validate import load_desired

    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-runs-"))
    os.environ["HOME"] = str(tmp)
    os.environ["GIT_CONFIG_GLOBAL"] = str(tmp / "gitconfig")
    (tmp / "gitconfig").write_text("[user]\n\tname = bench\n\temail = b@x.invalid\n")
    try:
        root = build(tmp)
        desired = load_desired(root)
        table = rows(desired)
        folder = root / "reports" / "workers"

        def render() -> Any:
            return write_run_reports(desired, table, {}, folder, time.time())

        cold, warm, moved, floor = [], [], [], []
        refreshed: dict[str, int] = {}
        for i in range(RUNS):
            (desired.state_dir / CACHE).unlink(missing_ok=True)
            ms, out = timed(render)
            cold.append(ms)
            refreshed["cold"] = len(out.git_refreshed)
            ms, out = timed(render)
            warm.append(ms)
            refreshed["warm"] = len(out.git_refreshed)
            tip = git(root.parent / "repo", "rev-parse", f"orch/w{i}").strip()
            tree = git(root.parent / "repo", "rev-parse", f"{tip}^{{tree}}").strip()
            sha = git(root.parent / "repo", "commit-tree", tree, "-p", tip, "-m", "more").strip()
            git(root.parent / "repo", "update-ref", f"refs/heads/orch/w{i}", sha)
            ms, out = timed(render)
            moved.append(ms)
            refreshed["moved"] = len(out.git_refreshed)
            ms, _ = timed(lambda: git(root.parent / "repo", "for-each-ref", "refs/heads"))
            floor.append(ms)
        for name, values in (("cold", cold), ("warm", warm), ("moved", moved)):
            print(f"{name:6} {statistics.median(values):8.1f} ms   git facts read for "
                  f"{refreshed[name]:3} of {WORKERS} workers")  # fmt: skip
        print(f"floor  {statistics.median(floor):8.1f} ms   one git for-each-ref")
        ok = refreshed["warm"] == 0 and statistics.median(warm) < TARGET_MS
        verdict = "PASS" if ok else "MISS"
        print(f"{verdict}: a warm render of {WORKERS} workers: none asks git, "
              f"under {TARGET_MS:g} ms")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
