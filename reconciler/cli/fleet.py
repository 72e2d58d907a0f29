"""Fleet commands: plan and reconcile (one pass, or --watch)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run

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
    epilog="Exit codes: 0 nothing to do, 2 changes pending (actions now, or a teardown "
    "waiting for its retry), 1 error.\n\n"
    "Example: orch plan --json | jq '.actions[].reason'",
)
def plan_cmd(as_json: JsonOpt = False, allow_mass_prune: MassPruneOpt = False) -> None:
    """Print exactly the actions `orch reconcile` would take now, and change nothing."""
    from reconciler.core.rows import pending_teardowns
    from reconciler.loop.views import current_plan

    the_plan = run(
        lambda: current_plan(CTX.root, allow_mass_prune=allow_mass_prune), json_errors=as_json
    )
    pending = pending_teardowns(the_plan)
    if as_json:
        emit_json({**the_plan.to_json(), "pending": pending})
    else:
        for action in the_plan.actions:
            typer.echo(action.describe())
        if the_plan.blocked:
            from reconciler.core.plan import blocked_note

            typer.echo(f"{blocked_note(the_plan)}:")
            for action in the_plan.blocked:
                typer.echo(f"  (blocked) {action.describe()}")
        for line in pending:
            typer.echo(f"pending {line['worker']}: {line['reason']}")
        if not the_plan.actions and not the_plan.blocked and not pending:
            typer.echo("no changes: the fleet matches the specs")
        _note_uncommitted()
    raise typer.Exit(2 if the_plan.actions or the_plan.blocked or pending else 0)


def _note_uncommitted() -> None:
    """With reconcile.source committed: the saved spec edits the plan leaves out (stderr)."""
    from reconciler.loop.control_repo import pending_edits

    edits = pending_edits(CTX.root)
    if edits:
        note = "not applied: reconcile.source is committed"
        typer.echo(f"uncommitted spec changes: {', '.join(edits)} ({note})", err=True)


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

        run(lambda: watch_loop(CTX.root, allow_mass_prune=allow_mass_prune, emit=emitter(as_json)))
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


def emitter(as_json: bool) -> Callable[[object], None]:
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
    emit = emitter(as_json)
    for event in result.events:
        emit(event)
    if not result.events and not as_json:
        typer.echo("nothing to do: the fleet matches the specs")
    if any(not e.ok for e in result.events):
        raise typer.Exit(1)
