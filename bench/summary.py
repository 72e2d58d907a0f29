"""The restart summary on a big worktree: gather_summary + build_summary against a floor.

Run with the project's venv:  .venv/bin/python bench/summary.py

Builds, in a temp folder, a git repo and a worker worktree holding 10,000
untracked files, three commits and one uncommitted change, plus a 50 MB run
log of repeated pane output full of escape codes. Then it times (median of 5):

  - summary: ``reconciler.loop.start_agent.gather_summary(...)`` + ``build_summary(...)``,
    what a restart costs before the agent starts;
  - floor:   ``git ls-files --others --exclude-standard | head`` plus reading the
    last 64 KB of the log, the I/O no summary can avoid;

and prints both in ms, the summary length against its bound, and PASS/MISS
against the 1 s target. Not a test: nothing is asserted. HOME and the git
config point into the temp folder, which is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

TARGET_MS = 1000.0
LOG_BYTES = 50 * 1024 * 1024
UNTRACKED = 10_000
RUNS = 5


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def write_log(path: Path, size: int) -> None:
    """``size`` bytes of colored, redrawn build output; the real last line at the end."""
    block = "".join(
        f"\x1b[2K\x1b[36m[{i:04d}]\x1b[0m compiling \x1b[1mmodule_{i % 97}\x1b[0m ... ok\r\n"
        for i in range(4000)
    ).encode()
    with path.open("wb") as fh:
        written = 0
        while written < size:
            fh.write(block)
            written += len(block)
        fh.write(b"\x1b[31mFINAL LINE: 42 passed, 1 failed\x1b[0m\r\n")


def build_fixture(tmp: Path, untracked: int, log_bytes: int) -> tuple[object, Path, Path, Path]:
    """Control repo, target repo, worktree and log; returns (desired, repo, worktree, log)."""
    from reconciler.drivers.git import Git, init_repo
    from reconciler.loop import engine

    repo = tmp / "repo"
    init_repo(repo)
    root = tmp / "ctl"
    (root / "specs").mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "prompts" / "work.md.j2").write_text("do the work\n")
    (root / "specs" / "fleet.yaml").write_text(f"""\
apiVersion: orch/v1
kind: Repo
metadata: {{name: app}}
spec: {{path: {repo}, defaultBranch: main}}
---
apiVersion: orch/v1
kind: Agent
metadata: {{name: bench}}
spec: {{command: [sleep, "3600"]}}
---
apiVersion: orch/v1
kind: Pipeline
metadata: {{name: p}}
spec:
  stages: [{{name: work, prompt: prompts/work.md.j2}}]
---
apiVersion: orch/v1
kind: Worker
metadata: {{name: w}}
spec: {{repo: app, pipeline: p, agent: bench}}
""")
    desired = engine.load(root)
    worktree = desired.worktree_path(desired.workers["w"])
    Git(repo).ensure_exclude(".orch/")
    Git(repo).worktree_add(worktree, "orch/w", "main", "test-fleet")
    for i in range(3):
        (worktree / f"src_{i}.py").write_text(f"x = {i}\n")
        git(worktree, "add", "-A")
        git(worktree, "commit", "-q", "-m", f"step {i} of the parser")
    (worktree / "src_0.py").write_text("x = 'changed'\n")
    for i in range(untracked):
        folder = worktree / "generated" / f"d{i // 500:02d}"
        if i % 500 == 0:
            folder.mkdir(parents=True)
        (folder / f"case_{i:05d}.json").write_text("{}\n")
    (worktree / ".orch").mkdir()
    (worktree / ".orch" / "progress.md").write_text("- parser: 3 steps committed\n")
    log = tmp / "work-1.log"
    write_log(log, log_bytes)
    return desired, repo, worktree, log


def median_ms(fn: object, runs: int) -> tuple[float, object]:
    times = []
    value = None
    for _ in range(runs):
        start = time.perf_counter()
        value = fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--untracked", type=int, default=UNTRACKED)
    parser.add_argument("--log-mb", type=int, default=LOG_BYTES // (1024 * 1024))
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="orch-bench-summary-"))
    home = tmp / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    os.environ.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        }
    )
    try:
        from reconciler.core.model import WorkerState
        from reconciler.core.summary import DEFAULT_LIMIT, build_summary
        from reconciler.loop.start_agent import LOG_TAIL_BYTES, gather_summary

        start = time.perf_counter()
        desired, repo, worktree, log = build_fixture(tmp, args.untracked, args.log_mb << 20)
        setup_s = time.perf_counter() - start
        worker = desired.workers["w"]  # type: ignore[attr-defined]
        stage = desired.pipelines["p"].stages[0]  # type: ignore[attr-defined]
        state = WorkerState(
            "w", worktree=str(worktree), repo_path=str(repo), stage="work", attempt=1, log=str(log)
        )

        def summary() -> str:
            src = gather_summary(
                desired,
                worker,
                stage,
                state,  # type: ignore[arg-type]
                "stalled: no activity for 901s",
            )
            return build_summary(src)

        def floor() -> int:
            listed = subprocess.run(
                f"git -C '{worktree}' ls-files --others --exclude-standard | head",
                shell=True,
                check=True,
                capture_output=True,
            )
            with log.open("rb") as fh:
                fh.seek(-LOG_TAIL_BYTES, os.SEEK_END)
                tail = fh.read()
            return len(listed.stdout) + len(tail)

        summary()  # warm the page cache and git's index for both
        floor()
        floor_ms, _ = median_ms(floor, args.runs)
        summary_ms, text = median_ms(summary, args.runs)
        size = len(text)  # type: ignore[arg-type]
        print(
            f"fixture: {log.stat().st_size / 2**20:.0f} MB log, {args.untracked} untracked "
            f"files, 3 commits (built in {setup_s:.1f} s)"
        )
        print(
            f"floor   (git ls-files --others | head + last {LOG_TAIL_BYTES // 1024} KB of "
            f"the log): {floor_ms:8.1f} ms  (median of {args.runs})"
        )
        print(
            f"summary (gather_summary + build_summary):          {summary_ms:8.1f} ms  "
            f"(median of {args.runs}; {summary_ms / floor_ms:.1f}x the floor)"
        )
        print(
            f"summary length: {size} chars (bound {DEFAULT_LIMIT}: "
            f"{'within' if size <= DEFAULT_LIMIT else 'OVER'})"
        )
        verdict = "PASS" if summary_ms <= TARGET_MS else "MISS"
        print(f"{verdict}: summary {summary_ms:.0f} ms vs target {TARGET_MS:.0f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
