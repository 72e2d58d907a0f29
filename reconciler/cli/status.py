"""Looking at the fleet: status, logs, attach."""

from __future__ import annotations

import os
import shlex
import sys
import time
from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, fail, run
from reconciler.cli.table import table
from reconciler.core.errors import UsageError

commands = typer.Typer()


@commands.command(
    epilog="Example: orch status --json | jq '.workers[] | select(.phase==\"Failed\")'"
)
def status(as_json: JsonOpt = False) -> None:
    """One row a worker: phase, stage, attempt, restarts, last activity, branch, window, reason."""
    from reconciler.core.duration import iso_age
    from reconciler.core.rows import stage_text
    from reconciler.loop.views import fleet_status

    data = run(lambda: fleet_status(CTX.root), json_errors=as_json)
    if as_json:
        emit_json(data)
        return
    rows, foreign = data["workers"], data["foreign"]
    for warning in data["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    if data["revision"]:
        rev = data["revision"]
        dirty = "; specs/ or config/ has uncommitted changes" if data["specsDirty"] else ""
        typer.echo(f'specs at {rev["sha"]} "{rev["subject"]}"{dirty}')
    now = time.time()
    headers = [
        "NAME",
        "PHASE",
        "STAGE",
        "ATTEMPT",
        "RESTARTS",
        "ACTIVITY",
        "COST",
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
                _ago(iso_age(r["lastActivity"], now)),
                "-" if r["costUsd"] is None else f"${r['costUsd']:.2f}",
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

    desired = run(lambda: engine.load(CTX.root, require_env=False))
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
