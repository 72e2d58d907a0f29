"""`orch task list|add|start|done|assign`: the markdown task lists in tasks/."""

from __future__ import annotations

import dataclasses
import os
from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run
from reconciler.cli.table import table

EPILOG = """\
Examples:

  orch task list                          every task: id, status, repo, text

  orch task add "Prove reward distribution" --repo staking

  orch task start T-12                    backlog -> active

  orch task done T-12                     -> completed.md, ticked and dated

  orch task assign T-12 --pipeline proof  an item of the pipeline's WorkerSet;
                                          commit it and a worker starts
"""

commands = typer.Typer()
task_app = typer.Typer(
    help="Tasks as markdown checklists in tasks/backlog.md, active.md and completed.md.",
    epilog=EPILOG,
    no_args_is_help=True,
)
commands.add_typer(task_app, name="task")

TaskId = Annotated[str, typer.Argument(help="The task's id, e.g. T-12.", show_default=False)]
RepoOpt = Annotated[str | None, typer.Option("--repo", help="A Repo name.", show_default=False)]


def _warn(problems: tuple[object, ...]) -> None:
    for p in problems:
        typer.echo(f"warning: {p}", err=True)


@task_app.command("list", epilog="Examples: orch task list --repo staking; orch task list --json")
def list_(
    repo: RepoOpt = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="backlog, active or completed.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the tasks of the three files; lines that look like tasks but do not parse are
    warned about with file:line (and left alone)."""
    from reconciler.loop.tasks import list_tasks

    found = run(lambda: list_tasks(CTX.root, repo, status), json_errors=as_json)
    if as_json:
        emit_json({
            "tasks": [dataclasses.asdict(t) for t in found.tasks],
            "problems": [dataclasses.asdict(p) for p in found.problems],
        })  # fmt: skip
        return
    _warn(found.problems)
    rows = [[t.id, t.status, t.repo or "-", t.text, f"{t.path}:{t.line}"] for t in found.tasks]
    typer.echo(table(["ID", "STATUS", "REPO", "TEXT", "WHERE"], rows) if rows else "no tasks")


@task_app.command(epilog='Example: orch task add "Fix the flaky parser test" --repo app')
def add(
    text: Annotated[str, typer.Argument(help="What is to be done (one line).")],
    repo: RepoOpt = None,
) -> None:
    """Add a task to tasks/backlog.md under the next free id."""
    from reconciler.loop.tasks import add_task

    task = run(lambda: add_task(CTX.root, text, repo))
    typer.echo(f"added {task.id} to {task.path}:{task.line}")


@task_app.command(epilog="Example: orch task start T-12")
def start(task_id: TaskId) -> None:
    """Move a task from tasks/backlog.md to tasks/active.md."""
    from reconciler.loop.tasks import start_task

    task = run(lambda: start_task(CTX.root, task_id))
    typer.echo(f"{task.id} is active ({task.path}:{task.line})")


@task_app.command(epilog="Example: orch task done T-12")
def done(task_id: TaskId) -> None:
    """Move a task to the end of tasks/completed.md, ticked, with today's date."""
    from reconciler.loop.tasks import done_task

    task = run(lambda: done_task(CTX.root, task_id))
    typer.echo(f"{task.id} is completed ({task.path}:{task.line})")


@task_app.command(
    epilog="Examples: orch task assign T-12 --pipeline proof; "
    "orch task assign T-3 --pipeline demo --set demo"
)
def assign(
    task_id: TaskId,
    pipeline: Annotated[str, typer.Option("--pipeline", help="The Pipeline the worker walks.")],
    repo: Annotated[
        str | None,
        typer.Option("--repo", help="The Repo, when the task line names none.", show_default=False),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            help="Agent of a new WorkerSet (default: the one the pipeline's workers use, "
            "else claude).",
            show_default=False,
        ),
    ] = None,
    worker_set: Annotated[
        str | None,
        typer.Option(
            "--set", help="The WorkerSet, when several use the pipeline.", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a task as an item of the WorkerSet of a pipeline (one is created when none is).

    The specs must validate before, and do after (else nothing is changed); a
    backlog task moves to active.md. Commit the files it names and the
    reconciler starts the worker.
    """
    from reconciler.loop.task_assign import assign_task

    done_ = run(
        lambda: assign_task(
            CTX.root, task_id, pipeline, os.environ, agent=agent, repo=repo, worker_set=worker_set
        ),
        json_errors=as_json,
    )
    if as_json:
        emit_json(dataclasses.asdict(done_))
        return
    what = "created WorkerSet" if done_.created else "added to WorkerSet"
    typer.echo(f"{done_.task.id}: {what} {done_.worker_set}: worker {done_.worker}")
    typer.echo(
        f"wrote {', '.join(done_.files)}" + (", moved to tasks/active.md" if done_.started else "")
    )
    typer.echo(
        f"next: git add {' '.join(done_.files)} tasks && git commit -m 'assign {done_.task.id}'"
    )
