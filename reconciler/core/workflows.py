"""Workflow runs as data: which command, what an attempt's end means, whether to retry (pure).

A Repo's ``workflows`` map names shell command templates (``test: make
test``); `orch run WORKFLOW REPO` renders one in jinja2's sandbox and runs it
under a stall watchdog. Only a run the watchdog ended (no output for the
stall time, or over the timeout) is tried again: a command that exits with
an error has given its answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.duration import format_age
from reconciler.core.errors import UsageError
from reconciler.core.model import Repo, Worker

PASSED, FAILED, STALLED, TIMEOUT, CANCELLED, ERROR = (
    "passed", "failed", "stalled", "timeout", "cancelled", "error",
)  # fmt: skip
RETRIED = (STALLED, TIMEOUT)


@dataclass(frozen=True)
class WorkflowOptions:
    """How workflows run: watchdog times (seconds), retries, parallel repos, extra vars."""

    stall: float = 600.0
    timeout: float = 3600.0
    retries: int = 1
    jobs: int = 1
    vars: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Attempt:
    """One run of the command: how it ended, how long it took, where its output is."""

    number: int
    result: str  # passed, failed, stalled, timeout, cancelled, error
    exit_code: int | None
    duration: float
    log: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"attempt": self.number, "result": self.result, "exitCode": self.exit_code,
                "durationSeconds": round(self.duration, 3), "log": self.log,
                "reason": self.reason}  # fmt: skip


@dataclass(frozen=True)
class WorkflowRun:
    """A workflow on one target (a repo, or a worker's worktree), with every attempt."""

    target: str  # the repo's name, or the worker's with --worker
    repo: str
    worker: str | None
    workflow: str
    command: str
    cwd: str
    attempts: tuple[Attempt, ...] = ()
    error: str | None = None  # why it could not run at all (e.g. the folder is missing)

    @property
    def result(self) -> str:
        """The last attempt's result; ``error`` when nothing could run."""
        if self.error is not None or not self.attempts:
            return ERROR
        return self.attempts[-1].result

    @property
    def ok(self) -> bool:
        """True when the last attempt passed."""
        return self.result == PASSED

    @property
    def duration(self) -> float:
        """Seconds over every attempt."""
        return sum(a.duration for a in self.attempts)

    @property
    def log(self) -> str | None:
        """The last attempt's log file."""
        return self.attempts[-1].log if self.attempts else None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"target": self.target, "repo": self.repo, "worker": self.worker,
                "workflow": self.workflow, "command": self.command, "cwd": self.cwd,
                "result": self.result, "ok": self.ok, "error": self.error,
                "durationSeconds": round(self.duration, 3), "log": self.log,
                "attempts": [a.to_json() for a in self.attempts]}  # fmt: skip


def workflow_template(repo: Repo, workflow: str) -> str:
    """The command template of ``workflow`` on ``repo``; a UsageError naming what it has.

    Examples
    --------
    >>> from reconciler.core.model import Source
    >>> r = Repo("app", None, None, "main", (), {"build": "make"}, Source("specs/a.yaml", 3, 9))
    >>> workflow_template(r, "build")
    'make'
    >>> workflow_template(r, "test")
    Traceback (most recent call last):
    ...
    reconciler.core.errors.UsageError: repo "app" has no workflow "test"; its workflows: build
    """
    if workflow in repo.workflows:
        return repo.workflows[workflow]
    if repo.workflows:
        has = f"its workflows: {', '.join(sorted(repo.workflows))}"
    else:
        where = f"{repo.source.path}:{repo.source.line}"
        has = f"it has none (add spec.workflows to the Repo at {where})"
    msg = f'repo "{repo.name}" has no workflow "{workflow}"; {has}'
    raise UsageError(msg)


def workflow_context(
    repo: Repo,
    workflow: str,
    cwd: str,
    branch: str | None,
    worker: Worker | None,
    extra: Mapping[str, str],
) -> dict[str, Any]:
    """Names a workflow template can use: repo, path, branch, default_branch, worker, vars."""
    return {
        "repo": repo.name,
        "workflow": workflow,
        "path": cwd,
        "branch": branch or "",
        "default_branch": repo.default_branch,
        "worker": worker.name if worker else "",
        "vars": {**(dict(worker.vars) if worker else {}), **extra},
    }


def attempt_result(exit_code: int, killed: str | None) -> str:
    """What an attempt's end means: passed, failed, or why the watchdog ended it.

    Examples
    --------
    >>> attempt_result(0, None), attempt_result(2, None), attempt_result(-15, "stall")
    ('passed', 'failed', 'stalled')
    """
    if killed == "stall":
        return STALLED
    if killed in (TIMEOUT, CANCELLED):
        return killed
    return PASSED if exit_code == 0 else FAILED


def attempt_reason(result: str, exit_code: int, options: WorkflowOptions) -> str:
    """A sentence on how the attempt ended.

    Examples
    --------
    >>> attempt_reason("stalled", -15, WorkflowOptions(stall=1.0))
    'no output for 1s: process group killed'
    >>> attempt_reason("failed", 2, WorkflowOptions())
    'exit code 2'
    """
    if result == STALLED:
        return f"no output for {format_age(options.stall)}: process group killed"
    if result == TIMEOUT:
        return f"over the timeout of {format_age(options.timeout)}: process group killed"
    if result == CANCELLED:
        return "interrupted: process group killed"
    return f"exit code {exit_code}"


def should_retry(result: str, attempt: int, retries: int) -> bool:
    """Whether attempt number ``attempt`` (from 1), ended with ``result``, gets another.

    Examples
    --------
    >>> should_retry("stalled", 1, 1), should_retry("stalled", 2, 1), should_retry("failed", 1, 1)
    (True, False, False)
    """
    return result in RETRIED and attempt <= retries
