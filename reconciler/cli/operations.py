"""What a person asks for by hand: cleanup, restart, suspend, resume (through a watcher too)."""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, fail, run
from reconciler.core.errors import UsageError

commands = typer.Typer()


_NO_WAIT = "When a watcher runs: leave it the request, print the request id, return at once."
NoWaitOpt = Annotated[bool, typer.Option("--no-wait", help=_NO_WAIT)]
_WATCHER_NOTE = (
    "With `orch reconcile --watch` running, the watcher does the work: the command "
    "leaves it a request in state/requests/ and waits (30 s at most) for the outcome. "
    "Exit codes: 0 done; 1 refused, failed or not answered; 3 another reconcile (not "
    "a watcher) kept the lock for 5 s."
)


def _epilog(*examples: tuple[str, str]) -> str:
    """Examples, laid out as written (Click's backspace marker), and the note on watchers."""
    width = max(len(cmd) for cmd, _ in examples) + 2
    rows = "\n".join(f"  {cmd.ljust(width)}{what}" for cmd, what in examples)
    return f"Examples:\n\n\b\n{rows}\n\n{_WATCHER_NOTE}"


def _perform(
    op: str, workers: list[str], no_wait: bool, stage: str | None = None, commit: bool = True
) -> None:
    """Do ``op`` here, or through the running watcher; print what happened, as always."""
    from reconciler.loop.requests import Request, perform

    request = Request(op, tuple(workers), stage=stage, commit=commit)
    outcome = run(lambda: perform(CTX.root, request, wait=not no_wait))
    if outcome.queued:
        typer.echo(outcome.queued)
        typer.echo(
            f"left for the watcher as request {outcome.queued}; the outcome shows in its "
            "output and in state/events.jsonl",
            err=True,
        )
        return
    for line in outcome.lines:
        typer.echo(line)
    if outcome.failed:
        raise typer.Exit(1)


@commands.command(
    epilog=_epilog(
        ("orch cleanup old-worker --yes", "stop it, save its work, remove worktree and window"),
        ("orch cleanup --all", "every worker orch knows (asks first)"),
    )
)
def cleanup(
    workers: Annotated[list[str] | None, typer.Argument(help="Workers to remove.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every worker orch knows.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also workers a person has taken over.")
    ] = False,
    no_wait: NoWaitOpt = False,
) -> None:
    """Stop workers and remove their worktrees and windows; uncommitted work is saved first.

    Saved work goes to refs/orch/backups/<worker>/<time>; branches are kept. A worker
    still in the specs is started again by the next reconcile.
    """
    from reconciler.loop.operations import cleanup_plan

    if not workers and not all_:
        fail(UsageError("name the workers to clean up, or pass --all"))
    actions, names, in_specs = run(lambda: cleanup_plan(CTX.root, workers or [], all_, force))
    if not names:
        typer.echo("nothing to clean up")
        return
    for action in actions:
        typer.echo(action.describe())
    if in_specs:
        typer.echo(f"note: still in specs, recreated by the next reconcile: {', '.join(in_specs)}")
    if not yes and not typer.confirm(f"remove {len(names)} worker(s)?", default=False):
        raise typer.Exit(1)
    _perform("cleanup", names, no_wait)


WorkerArg = Annotated[str, typer.Argument(help="The worker's name.")]


@commands.command(
    epilog=_epilog(
        ("orch restart w1", "a new attempt of w1's current stage, now"),
        ("orch restart w1 --stage plan", "from stage plan again (its and later signals removed)"),
        ("orch restart w1 --no-wait", "with a watcher: print the request id, do not wait"),
    )
)
def restart(
    worker: WorkerArg,
    stage: Annotated[str | None, typer.Option("--stage", help="Restart at this stage.")] = None,
    no_wait: NoWaitOpt = False,
) -> None:
    """Reset a worker's restart count and restart it now, with a restart prompt."""
    _perform("restart", [worker], no_wait, stage=stage)


_NO_COMMIT = "Only edit the spec file; commit it yourself."
NoCommitOpt = Annotated[bool, typer.Option("--no-commit", help=_NO_COMMIT)]


@commands.command(
    epilog=_epilog(
        ("orch suspend w1", "stop w1, keep its worktree; commit spec.suspend: true"),
        ("orch suspend w1 --no-commit", "edit specs/ only; commit it yourself"),
        ("orch resume w1", "the reverse: spec.suspend: false, and w1 starts again"),
    )
)
def suspend(worker: WorkerArg, no_commit: NoCommitOpt = False, no_wait: NoWaitOpt = False) -> None:
    """Suspend a worker: set spec.suspend: true in its spec file, commit that file, stop it.

    The file keeps its comments and layout; the commit ("orch: suspend worker W")
    holds that file only, and whatever you staged stays staged. Its worktree,
    branch and window stay. A WorkerSet's workers are suspended in the WorkerSet.
    """
    _perform("suspend", [worker], no_wait, commit=not no_commit)


@commands.command(
    epilog=_epilog(
        ("orch resume w1", "w1 starts again where it stopped, with a restart prompt"),
        ("orch resume w1 --no-commit", "edit specs/ only; commit it yourself"),
    )
)
def resume(worker: WorkerArg, no_commit: NoCommitOpt = False, no_wait: NoWaitOpt = False) -> None:
    """Resume a suspended worker: set spec.suspend: false in its spec file, commit it, start it.

    The file keeps its comments and layout; the commit ("orch: resume worker W")
    holds that file only, and whatever you staged stays staged.
    """
    _perform("resume", [worker], no_wait, commit=not no_commit)


@commands.command(
    "approve-prune",
    epilog=_epilog(
        ("orch approve-prune", "let the guard remove the workers it holds back now, once"),
        ("orch approve-prune --json", "what it approved, for scripts"),
    ),
)
def approve_prune(as_json: JsonOpt = False, no_wait: NoWaitOpt = False) -> None:
    """Approve, once, the removals the mass-prune guard holds back now (they show as Blocked).

    It prints what it approves and asks nothing. With a watcher running, the watcher
    removes them at once; otherwise the next `orch reconcile` does. A later mass prune
    (other workers) is blocked again. Exit 1 when nothing is blocked.
    """
    from reconciler.loop.requests import Request, perform

    blocked = run(lambda: _blocked_prune(), json_errors=as_json)
    if blocked is None:
        fail(UsageError("nothing to approve: no removal is blocked by the mass-prune guard"))
    workers, count, total, actions = blocked
    request = Request("approve-prune", tuple(workers))
    outcome = run(lambda: perform(CTX.root, request, wait=not no_wait), json_errors=as_json)
    if as_json:
        emit_json({"approved": workers, "count": count, "total": total, "actions": actions,
                   "queued": outcome.queued, "lines": list(outcome.lines)})  # fmt: skip
        return
    typer.echo(f"approving the removal of {count} of {total} workers: {', '.join(workers)}")
    for action in actions:
        typer.echo(f"  {action['text']}")
    for line in outcome.lines or [f"left for the watcher as request {outcome.queued}"]:
        typer.echo(line)


def _blocked_prune() -> tuple[list[str], int, int, list[dict[str, object]]] | None:
    """The workers the guard holds back now (None: nothing is), counts and the held actions."""
    from reconciler.loop import engine

    desired = engine.load(CTX.root, require_env=False)
    the_plan = engine.make_plan(desired, engine.snapshot(desired))
    if not the_plan.blocked:
        return None
    actions = [{**a.to_json(), "text": a.describe()} for a in the_plan.blocked]
    return list(the_plan.pruning), the_plan.prune_count, the_plan.prune_total, actions
