"""`orch run WORKFLOW`: a Repo's workflow command in repos or workers' worktrees, watched.

Every target is checked and every command rendered before anything runs (an
unknown repo, a missing workflow or a broken template stops the whole run
with one message). Then up to ``jobs`` targets run at once, each through the
stall watchdog of :mod:`reconciler.drivers.watchdog`, its output streamed
line by line to ``on_line`` and kept in ``state/runs/<time>-<workflow>/``:
``<target>.<attempt>.log`` for each attempt and ``summary.json`` for the run.
What an end means and whether to retry is :mod:`reconciler.core.workflows`.

These are the functions the CLI calls (and an MCP server may call).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.core.agent_command import render
from reconciler.core.errors import DriverError, SpecError, UsageError
from reconciler.core.model import Desired, Repo, Worker
from reconciler.core.repo_rows import select_repos
from reconciler.core.workflows import (
    Attempt,
    WorkflowOptions,
    WorkflowRun,
    attempt_reason,
    attempt_result,
    should_retry,
    workflow_context,
    workflow_template,
)
from reconciler.drivers import repo_git
from reconciler.drivers.watchdog import run_watched
from reconciler.loop.repos import missing_reason, parallel
from reconciler.loop.state_store import write_atomic

LineSink = Callable[[str, str], None]  # (target, line): one line of output, or an [orch] note


@dataclass(frozen=True)
class Target:
    """Where a workflow runs: a repo's own folder, or a worker's worktree of it."""

    label: str
    repo: Repo
    cwd: Path
    worker: Worker | None = None


@dataclass(frozen=True)
class WorkflowReport:
    """One `orch run`: every target's run, and the repos ``--all`` passed over."""

    workflow: str
    folder: str
    runs: tuple[WorkflowRun, ...]
    skipped: tuple[str, ...] = ()  # with all_repos: repos that have no such workflow

    @property
    def ok(self) -> bool:
        """True when every run passed."""
        return all(run.ok for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (also written to ``<folder>/summary.json``)."""
        return {"workflow": self.workflow, "ok": self.ok, "folder": self.folder,
                "skipped": list(self.skipped),
                "runs": [run.to_json() for run in self.runs]}  # fmt: skip


def select_targets(
    desired: Desired,
    workflow: str,
    repos: Iterable[str] = (),
    *,
    all_repos: bool = False,
    workers: Iterable[str] = (),
) -> tuple[list[Target], list[str]]:
    """The targets of a run, and (with ``all_repos``) the repos without ``workflow``.

    ``workers`` (worktrees) or ``repos`` / ``all_repos`` (the repos' own
    folders), never both. Raises UsageError for an unknown name, a worker
    without a worktree yet, or a named repo without the workflow.
    """
    names, worker_names = list(repos), list(dict.fromkeys(workers))
    if names and all_repos:
        raise UsageError("name repos or pass --all, not both")
    if worker_names and (names or all_repos):
        raise UsageError("name repos (or --all) or --worker, not both")
    if worker_names:
        return [_worker_target(desired, name, workflow) for name in worker_names], []
    if not names and not all_repos:
        msg = f"name a repo, or pass --all (repos: {', '.join(desired.repos)})"
        raise UsageError(msg)
    chosen = select_repos(desired.repos, () if all_repos else names)
    if all_repos:
        skipped = [r.name for r in chosen if workflow not in r.workflows]
        chosen = [r for r in chosen if workflow in r.workflows]
        if not chosen:
            msg = f'no repo of the specs has a workflow "{workflow}"'
            raise UsageError(msg)
    else:
        skipped = []
        for repo in chosen:
            workflow_template(repo, workflow)  # raises, naming what the repo has
    return [Target(r.name, r, r.local_path) for r in chosen], skipped


def _worker_target(desired: Desired, name: str, workflow: str) -> Target:
    worker = desired.workers.get(name)
    if worker is None:
        msg = f'unknown worker "{name}" (see orch get workers)'
        raise UsageError(msg)
    repo = desired.repos[worker.repo]
    workflow_template(repo, workflow)
    path = desired.worktree_path(worker)
    if not (path / ".git").exists():
        msg = f'worker "{name}" has no worktree at {path} yet (orch reconcile makes it)'
        raise UsageError(msg)
    return Target(name, repo, path, worker)


def render_command(target: Target, workflow: str, extra: dict[str, str]) -> str:
    """The target's command: its workflow template rendered in jinja2's sandbox.

    Raises SpecError at the Repo's document when the template does not render.
    """
    if target.worker is not None:
        branch: str | None = target.worker.branch
    else:
        try:
            branch = repo_git.current_branch(target.cwd) if target.cwd.exists() else None
        except DriverError:
            branch = None  # a broken repo: the run itself says so
    ctx = workflow_context(target.repo, workflow, str(target.cwd), branch, target.worker, extra)
    try:
        return render(workflow_template(target.repo, workflow), ctx)
    except Exception as err:  # jinja2's TemplateError, sandbox SecurityError
        src = target.repo.source
        msg = f'workflow "{workflow}": template: {type(err).__name__}: {err}'
        raise SpecError(src.path, src.line, src.col, f"Repo/{target.repo.name}", msg) from err


def run_workflows(
    desired: Desired,
    workflow: str,
    repos: Iterable[str] = (),
    *,
    all_repos: bool = False,
    workers: Iterable[str] = (),
    options: WorkflowOptions | None = None,
    on_line: LineSink | None = None,
    cancel: threading.Event | None = None,
) -> WorkflowReport:
    """Run ``workflow`` on the repos named (or all that have it), or in workers' worktrees.

    Up to ``options.jobs`` targets at once; each attempt is ended by the
    watchdog after ``options.stall`` seconds without output or
    ``options.timeout`` in all, and such an attempt is retried up to
    ``options.retries`` times. A target whose folder is missing is a run with
    an error. Ctrl-C (KeyboardInterrupt) ends every running command first;
    so does setting ``cancel`` from another thread (their runs are ``cancelled``).

    Raises
    ------
    UsageError
        Unknown repo or worker, a missing workflow, nothing named.
    SpecError
        A workflow template that does not render.
    """
    options = options or WorkflowOptions()
    targets, skipped = select_targets(
        desired, workflow, repos, all_repos=all_repos, workers=workers
    )
    commands = parallel(lambda t: render_command(t, workflow, dict(options.vars)), targets)
    folder = _run_folder(desired.state_dir / "runs", workflow)
    cancel = cancel or threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, min(options.jobs, len(targets))))
    futures = [
        pool.submit(_run_target, t, workflow, cmd, options, folder, on_line, cancel)
        for t, cmd in zip(targets, commands, strict=True)
    ]
    try:
        pending = set(futures)
        while pending:  # short waits: the kernel may hand Ctrl-C to another thread, and
            _, pending = wait(pending, timeout=0.2)  # only the main thread runs the handler
        runs = tuple(future.result() for future in futures)
    except BaseException:  # Ctrl-C: every running command is ended before we leave
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    report = WorkflowReport(workflow, str(folder), runs, tuple(skipped))
    write_atomic(folder / "summary.json", json.dumps(report.to_json(), indent=2) + "\n")
    return report


def _run_folder(runs: Path, workflow: str) -> Path:
    """A new folder ``<UTC time>-<workflow>`` (``-2``, ``-3``... when taken)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    runs.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        folder = runs / (f"{stamp}-{workflow}" + (f"-{n}" if n > 1 else ""))
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    msg = f"too many runs of {workflow} this second in {runs}"
    raise UsageError(msg)


def _run_target(
    target: Target,
    workflow: str,
    command: str,
    options: WorkflowOptions,
    folder: Path,
    on_line: LineSink | None,
    cancel: threading.Event,
) -> WorkflowRun:
    run = WorkflowRun(target.label, target.repo.name, target.worker.name if target.worker else None,
                      workflow, command, str(target.cwd))  # fmt: skip
    missing = None if target.worker else missing_reason(target.repo)
    if missing:
        _note(on_line, target.label, f"not run: {missing}")
        return replace(run, error=missing)
    attempts: list[Attempt] = []
    total = options.retries + 1
    for number in range(1, total + 1):
        attempt = _attempt(target, workflow, command, options, folder, number, on_line, cancel)
        attempts.append(attempt)
        again = should_retry(attempt.result, number, options.retries) and not cancel.is_set()
        more = f"; retrying ({number + 1} of {total})" if again else ""
        _note(on_line, target.label, f"attempt {number}: {attempt.result}: {attempt.reason}{more}")
        if not again:
            break
    return replace(run, attempts=tuple(attempts))


def _attempt(
    target: Target,
    workflow: str,
    command: str,
    options: WorkflowOptions,
    folder: Path,
    number: int,
    on_line: LineSink | None,
    cancel: threading.Event,
) -> Attempt:
    log = folder / f"{target.label}.{number}.log"
    log.write_text(f"# orch run {workflow} in {target.cwd}, attempt {number}\n$ {command}\n")
    worker = target.worker.name if target.worker else ""
    env = {**os.environ, "ORCH_REPO": target.repo.name, "ORCH_WORKFLOW": workflow,
           "ORCH_ATTEMPT": str(number), "ORCH_WORKER": worker}  # fmt: skip
    sink = (lambda line: on_line(target.label, line)) if on_line else None
    try:
        done = run_watched(command, target.cwd, log, stall=options.stall, timeout=options.timeout,
                           env=env, on_line=sink, cancel=cancel)  # fmt: skip
    except DriverError as err:
        return Attempt(number, "error", None, 0.0, str(log), str(err))
    result = attempt_result(done.exit_code, done.killed)
    reason = attempt_reason(result, done.exit_code, options)
    with log.open("a") as fh:
        fh.write(f"\n# orch: {result}: {reason} ({done.duration:.1f}s)\n")
    return Attempt(number, result, done.exit_code, done.duration, str(log), reason)


def _note(on_line: LineSink | None, label: str, text: str) -> None:
    if on_line is not None:
        on_line(label, f"[orch] {text}")
