"""Fleet commands: plan, reconcile, status, logs, attach; cleanup, restart, suspend, resume."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, fail, run
from reconciler.cli.table import table
from reconciler.core.errors import UsageError

commands = typer.Typer()

MassPruneOpt = Annotated[
    bool,
    typer.Option(
        "--allow-mass-prune",
        help="Allow removing more than reconcile.maxPruneFraction of the workers in one pass.",
    ),
]


@commands.command(
    "plan",
    epilog="Exit codes: 0 nothing to do, 2 changes pending, 1 error.\n\n"
    "Example: orch plan --json | jq '.actions[].reason'",
)
def plan_cmd(as_json: JsonOpt = False, allow_mass_prune: MassPruneOpt = False) -> None:
    """Print exactly the actions `orch reconcile` would take now, and change nothing."""
    from reconciler.loop import engine

    def compute() -> object:
        desired = engine.load(CTX.root)
        return engine.make_plan(
            desired, engine.snapshot(desired), allow_mass_prune=allow_mass_prune
        )

    from reconciler.core.actions import Plan

    the_plan = run(compute, json_errors=as_json)
    assert isinstance(the_plan, Plan)
    if as_json:
        emit_json(the_plan.to_json())
    else:
        for action in the_plan.actions:
            typer.echo(action.describe())
        if the_plan.blocked:
            typer.echo(
                f"blocked by the mass-prune guard: removing {the_plan.prune_count} of "
                f"{the_plan.prune_total} workers needs --allow-mass-prune:"
            )
            for action in the_plan.blocked:
                typer.echo(f"  (blocked) {action.describe()}")
        if not the_plan.actions and not the_plan.blocked:
            typer.echo("no changes: the fleet matches the specs")
    raise typer.Exit(2 if the_plan.actions or the_plan.blocked else 0)


@commands.command(
    epilog="Examples: orch reconcile; orch reconcile --watch; orch reconcile --allow-mass-prune"
)
def reconcile(
    as_json: Annotated[bool, typer.Option("--json", help="Print events as JSON lines.")] = False,
    allow_mass_prune: MassPruneOpt = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep reconciling until Ctrl-C.")] = False,
) -> None:
    """Apply one pass: provision, start, advance, restart, tear down. One line an action."""
    from reconciler.loop import engine

    if watch:
        from reconciler.loop.watch import watch_loop

        run(lambda: watch_loop(CTX.root, allow_mass_prune=allow_mass_prune, emit=_emitter(as_json)))
        return

    def once() -> engine.PassResult:
        try:
            return engine.reconcile(
                engine.load(CTX.root, remember=True), allow_mass_prune=allow_mass_prune
            )
        except engine.PassBlocked as blocked:
            _print_events(blocked.result, as_json)
            raise

    result = run(once)
    _print_events(result, as_json)


def _emitter(as_json: bool) -> Callable[[object], None]:
    """Print events and notices as they come: JSON lines, rich on a terminal, else plain."""
    import json

    from reconciler.loop.events import Event

    console = None
    if not as_json and sys.stdout.isatty():
        from rich.console import Console

        console = Console(highlight=False)

    def emit(item: object) -> None:
        if isinstance(item, Event):
            if as_json:
                typer.echo(json.dumps(item.to_json()))
            elif console is not None:
                console.print(item.line(), style=_style(item), markup=False)
            else:
                typer.echo(item.line())
        elif as_json:
            typer.echo(json.dumps({"notice": str(item)}))
        else:
            typer.echo(str(item), err=True)

    return emit


def _style(event: object) -> str:
    from reconciler.loop.events import Event

    assert isinstance(event, Event)
    if not event.ok or "Failed" in event.verb:
        return "bold red"
    if "Backoff" in event.verb or event.verb == "stop-agent":
        return "yellow"
    if "Succeeded" in event.verb:
        return "green"
    return "cyan" if event.verb == "start-agent" else ""


def _print_events(result: object, as_json: bool) -> None:

    from reconciler.loop.engine import PassResult

    assert isinstance(result, PassResult)
    emit = _emitter(as_json)
    for event in result.events:
        emit(event)
    if not result.events and not as_json:
        typer.echo("nothing to do: the fleet matches the specs")
    if any(not e.ok for e in result.events):
        raise typer.Exit(1)


@commands.command(
    epilog="Example: orch status --json | jq '.workers[] | select(.phase==\"Failed\")'"
)
def status(as_json: JsonOpt = False) -> None:
    """One row a worker: phase, stage, attempt, restarts, last activity, branch, window, reason."""
    from reconciler.core.rows import foreign_rows, stage_text, status_rows
    from reconciler.loop import engine

    def compute() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, object]]:
        desired = engine.load(CTX.root)
        observed = engine.snapshot(desired)
        rows = status_rows(desired, observed, engine.make_plan(desired, observed))
        warnings = [f"state file {p} is unreadable ({why}); the next reconcile moves it aside"
                    for p, why in observed.corrupt]  # fmt: skip
        return rows, foreign_rows(observed), {**engine.revision_info(desired.root),
                                              "warnings": warnings}  # fmt: skip

    rows, foreign, revision = run(compute, json_errors=as_json)
    if as_json:
        emit_json({"workers": rows, "foreign": foreign, **revision})
        return
    for warning in revision["warnings"]:  # type: ignore[attr-defined]
        typer.echo(f"warning: {warning}", err=True)
    if revision["revision"]:
        rev = revision["revision"]
        assert isinstance(rev, dict)
        dirty = "; specs/ or config/ has uncommitted changes" if revision["specsDirty"] else ""
        typer.echo(f'specs at {rev["sha"]} "{rev["subject"]}"{dirty}')
    now = time.time()
    headers = [
        "NAME",
        "PHASE",
        "STAGE",
        "ATTEMPT",
        "RESTARTS",
        "ACTIVITY",
        "BRANCH",
        "WINDOW",
        "REASON",
    ]
    body = []
    for r in rows:
        stage = stage_text(r)
        body.append(
            [
                r["name"],
                r["phase"],
                stage,
                r["attempt"],
                r["restarts"],
                _ago(_age(r["lastActivity"], now)),
                r["branch"],
                r["window"],
                r["reason"],
            ]
        )
    typer.echo(table(headers, body) if body else "no workers")
    if foreign:
        typer.echo(f"\nforeign windows on this socket (never touched): {len(foreign)}")
        typer.echo(
            table(["WINDOW", "NAME", "WHY"], [[f["window"], f["name"], f["why"]] for f in foreign])
        )


def _ago(seconds: float | None) -> str:
    from reconciler.core.duration import format_age

    return "-" if seconds is None else f"{format_age(seconds)} ago"


def _age(iso: object, now: float) -> float | None:
    if not isinstance(iso, str):
        return None
    import calendar

    return now - calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


@commands.command(epilog="Examples: orch logs w1 -n 50; orch logs w1 -f")
def logs(
    worker: Annotated[str, typer.Argument(help="The worker's name.")],
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines.")] = 40,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new output.")
    ] = False,
) -> None:
    """Print the end of a worker's current run log (its agent's output)."""
    from reconciler.loop.logs import current_log, follow_file, tail_lines

    path = run(lambda: current_log(CTX.root, worker))
    typer.echo("\n".join(tail_lines(path, lines)))
    if follow:
        try:
            for chunk in follow_file(path):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        except KeyboardInterrupt:
            return


@commands.command(epilog="Example: orch attach w1   (detach again with Ctrl-b d)")
def attach(worker: Annotated[str | None, typer.Argument(help="A worker to show.")] = None) -> None:
    """Attach to the fleet's tmux session, at WORKER's window if given.

    Off a terminal it prints the tmux command instead.
    """
    from reconciler.loop import engine

    desired = run(lambda: engine.load(CTX.root))
    cfg = desired.config
    target = cfg.tmux_session
    if worker:
        window = run(lambda: engine.snapshot(desired)).window_of(worker)
        if window is None:
            fail(UsageError(f'worker "{worker}" has no window (see orch status)'))
        target = window.window_id
    argv = ["tmux", "-L", cfg.tmux_socket, "attach-session", "-t", cfg.tmux_session]
    if worker:
        argv += [";", "select-window", "-t", target]
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        typer.echo(shlex.join(argv))
        return
    os.execvp("tmux", argv)


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
    no_wait: NoWaitOpt = False,
) -> None:
    """Stop workers and remove their worktrees and windows; uncommitted work is saved first.

    Saved work goes to refs/orch/backups/<worker>/<time>; branches are kept. A worker
    still in the specs is started again by the next reconcile.
    """
    from reconciler.loop.operations import cleanup_plan

    if not workers and not all_:
        fail(UsageError("name the workers to clean up, or pass --all"))
    actions, names, in_specs = run(lambda: cleanup_plan(CTX.root, workers or [], all_))
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
