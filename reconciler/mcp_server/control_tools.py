"""The MCP tools over the control repo's repos, workflows and tasks, beside the fleet's tools.

Each calls the loop function its CLI command calls: ``repos`` as `orch repos`,
``run_workflow`` as `orch run`, the ``task_*`` tools as `orch task`. Errors
go through :func:`~reconciler.mcp_server.tools.guarded` as the fleet tools'
do; tools that edit the task files hold the server's ``MUTATING`` lock.

A workflow runs inside a tool call, so its limits are tighter than the CLI's:
``timeout`` (at most 30 minutes) bounds each attempt and the whole call,
after which every command still running is killed. The server answers other
calls meanwhile. A call the client cancels kills its commands; so does
stopping the server (:func:`end_runs`).

A new tool here is a method of :class:`ControlTools` and its name in
:data:`CONTROL_TOOLS`.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import anyio.to_thread
from pydantic import Field

from reconciler.mcp_server.tools import MUTATING, WORKER_NAME, guarded

if TYPE_CHECKING:
    from reconciler.core.workflows import WorkflowOptions
    from reconciler.loop.workflows import WorkflowReport

NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"  # a Repo's name, as the specs allow it
RepoName = Annotated[str, Field(pattern=NAME, description="A Repo's name, as `repos` lists it.")]
TaskId = Annotated[
    str, Field(pattern=r"^T-[1-9][0-9]{0,8}$", description="The task's id, e.g. T-12.")
]
MAX_TIMEOUT = 1800.0  # seconds: no tool call holds its client longer than this
# The cancel events of the workflow runs in progress: the commands run in sessions of their
# own, out of reach of the signals that end the server, so it ends them (end_runs).
_RUNS: set[threading.Event] = set()
_RUNS_CHANGED = threading.Condition()


def end_runs(wait: float) -> int:
    """End every workflow run in progress (its commands are killed), waiting up to ``wait``
    seconds for them to be gone; how many were still running then."""
    with _RUNS_CHANGED:
        for cancel in _RUNS:
            cancel.set()
        _RUNS_CHANGED.wait_for(lambda: not _RUNS, timeout=wait)
        return len(_RUNS)


class ControlTools:
    """The repos, workflow and task tools of one control repo."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @guarded
    def repos(
        self,
        names: Annotated[
            list[RepoName] | None, Field(description="Only these repos (default: every Repo).")
        ] = None,
    ) -> dict[str, Any]:
        """Every Repo of the specs as `orch repos --json`: branch, staged/unstaged/untracked
        counts, ahead/behind its upstream (as of the last fetch), last commit, orch worktrees
        and workers; a missing or broken repo is a row with ``error``. Nothing is fetched."""
        from reconciler.loop.repos import load_specs, repo_rows

        rows = repo_rows(load_specs(self.root), names or ())
        now = time.time()
        return {"repos": [row.to_json(now) for row in rows]}

    async def run_workflow(
        self,
        workflow: Annotated[
            str,
            Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="A key of spec.workflows."),
        ],
        repos: Annotated[list[RepoName] | None, Field(description="Repos to run in.")] = None,
        all_repos: Annotated[bool, Field(description="Every Repo that has the workflow.")] = False,
        worker: Annotated[
            str | None,
            Field(pattern=WORKER_NAME, description="Run in this worker's worktree instead."),
        ] = None,
        jobs: Annotated[int, Field(ge=1, le=8, description="Targets run at once.")] = 1,
        stall: Annotated[
            float, Field(gt=0, le=600, description="Seconds without output before a kill.")
        ] = 120,
        timeout: Annotated[
            float,
            Field(gt=0, le=MAX_TIMEOUT, description="Seconds for each attempt and the whole call."),
        ] = 600,
        retries: Annotated[int, Field(ge=0, le=2, description="Tries after a stall.")] = 0,
        lines: Annotated[int, Field(ge=0, le=500, description="Log lines per target.")] = 20,
    ) -> dict[str, Any]:
        """Run a Repo's workflow command (spec.workflows) as `orch run` does, in the repos
        named, in all that have it, or in a worker's worktree; wait for it and return each
        target's result, attempts, log file and the last lines of its log. A command
        silent for ``stall`` seconds, or running past ``timeout``, is killed."""
        from reconciler.core.workflows import WorkflowOptions

        options = WorkflowOptions(stall=stall, timeout=timeout, retries=retries, jobs=jobs)
        cancel = threading.Event()
        targets = (tuple(repos or ()), all_repos, (worker,) if worker else ())
        run = functools.partial(self._run_workflow, workflow, targets, options, lines, cancel)
        try:  # in a thread, as the SDK runs other tools: the server goes on answering
            return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            cancel.set()  # the client gave up on the call: its commands are killed
            raise

    @guarded
    def _run_workflow(
        self,
        workflow: str,
        targets: tuple[tuple[str, ...], bool, tuple[str, ...]],
        options: WorkflowOptions,
        lines: int,
        cancel: threading.Event,
    ) -> dict[str, Any]:
        """`orch run` with ``cancel`` set at ``options.timeout`` (and by :func:`end_runs`)."""
        from reconciler.loop.repos import load_specs
        from reconciler.loop.workflows import run_workflows

        repos, all_repos, workers = targets
        deadline = threading.Timer(options.timeout, cancel.set)  # retries and queued targets too
        deadline.daemon = True
        deadline.start()
        with _RUNS_CHANGED:
            _RUNS.add(cancel)
        try:
            report = run_workflows(
                load_specs(self.root), workflow, repos, all_repos=all_repos, workers=workers,
                options=options, cancel=cancel,
            )  # fmt: skip
        finally:
            deadline.cancel()
            with _RUNS_CHANGED:
                _RUNS.discard(cancel)
                _RUNS_CHANGED.notify_all()
        return _with_tails(report, lines, cut=cancel.is_set())

    @guarded
    def task_list(
        self,
        repo: Annotated[str | None, Field(pattern=NAME, description="Only this repo's.")] = None,
        status: Annotated[
            Literal["backlog", "active", "completed"] | None, Field(description="Only these.")
        ] = None,
    ) -> dict[str, Any]:
        """The tasks of tasks/backlog.md, active.md and completed.md (id, status, repo, text,
        file and line), as `orch task list --json`; ``problems``: lines that look like tasks
        but do not parse, left alone."""
        from reconciler.loop.tasks import list_tasks

        found = list_tasks(self.root, repo, status)
        return {
            "tasks": [dataclasses.asdict(t) for t in found.tasks],
            "problems": [dataclasses.asdict(p) for p in found.problems],
        }

    @guarded
    def task_add(
        self,
        text: Annotated[
            str, Field(min_length=1, max_length=500, description="What is to be done (one line).")
        ],
        repo: Annotated[str | None, Field(pattern=NAME, description="The Repo it is for.")] = None,
    ) -> dict[str, Any]:
        """Add a task to tasks/backlog.md under the next free id, as `orch task add`
        (the file is written, not committed)."""
        from reconciler.loop.tasks import add_task

        with MUTATING:
            return dataclasses.asdict(add_task(self.root, text, repo))

    @guarded
    def task_start(self, task_id: TaskId) -> dict[str, Any]:
        """Move a task from tasks/backlog.md to tasks/active.md, as `orch task start`."""
        from reconciler.loop.tasks import start_task

        with MUTATING:
            return dataclasses.asdict(start_task(self.root, task_id))

    @guarded
    def task_done(self, task_id: TaskId) -> dict[str, Any]:
        """Move a backlog or active task to the end of tasks/completed.md, ticked and dated
        today, as `orch task done`."""
        from reconciler.loop.tasks import done_task

        with MUTATING:
            return dataclasses.asdict(done_task(self.root, task_id))


def _with_tails(report: WorkflowReport, lines: int, *, cut: bool) -> dict[str, Any]:
    """``report`` as JSON, each run with ``tail``: the last ``lines`` lines of its last log."""
    from reconciler.loop.logs import tail_lines

    answer = report.to_json()
    for run, data in zip(report.runs, answer["runs"], strict=True):
        try:
            data["tail"] = tail_lines(Path(run.log), lines) if run.log else []
        except OSError:
            data["tail"] = []
    answer["cutOff"] = cut  # the call's timeout ended what was still running
    return answer


# The tools served, by name; each is the ControlTools method of that name.
CONTROL_TOOLS = ("repos", "run_workflow", "task_list", "task_add", "task_start", "task_done")
