"""Looking at the fleet: status, logs, attach."""

from __future__ import annotations

import os
import shlex
import sys
import time
from typing import Annotated, Any

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, fail, run
from reconciler.cli.table import table
from reconciler.core.errors import UsageError

commands = typer.Typer()


STATUS_EPILOG = """\
Exit codes: 0 shown; 4 shown, but the specs are invalid (the rows come from the
last valid specs, or from what is observed; the first error is named); 1 error.

Example: orch status --json | jq '.workers[] | select(.phase=="Failed")'
"""


@commands.command(epilog=STATUS_EPILOG)
def status(as_json: JsonOpt = False) -> None:
    """One row a worker: phase, stage, attempt, restarts, last activity, branch, window, reason.

    Above the rows: the specs' revision, whether a reconciler runs (pid, since
    when, last pass), and a banner when the specs are invalid.
    """
    from reconciler.loop.status_view import status_view

    view = run(lambda: status_view(CTX.root), json_errors=as_json, one_shot=True)
    if as_json:
        emit_json(view.to_json())
    else:
        _print_status(view)
    if view.specs_error:
        raise typer.Exit(SPECS_INVALID)


SPECS_INVALID = 4  # status shown, from the last valid specs or from what is observed


def _print_status(view: Any) -> None:
    from reconciler.core.duration import iso_age
    from reconciler.core.rows import restarts_text, stage_text

    for warning in view.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if view.specs_error:
        err = view.specs_error
        more = f" (and {err['count'] - 1} more)" if err["count"] > 1 else ""
        shown = ("the last valid specs" if view.source == "last-valid"
                 else "what is observed (no valid specs remembered)")  # fmt: skip
        typer.echo(f"specs invalid: {err['first']}{more}; `orch validate` lists them")
        typer.echo(f"showing {shown}; nothing is applied until the specs load")
    revision = view.revision
    if revision["revision"]:
        rev = revision["revision"]
        dirty = "; specs/ or config/ has uncommitted changes" if revision["specsDirty"] else ""
        typer.echo(f'specs at {rev["sha"]} "{rev["subject"]}"{dirty}')
    typer.echo(_reconciler_line(view.reconciler))
    if revision.get("pendingSpecs"):
        files = ", ".join(revision["pendingSpecs"])
        note = "not applied: reconcile.source is committed"
        typer.echo(f"uncommitted spec changes: {files} ({note})")
    if revision.get("reportWaiting"):
        typer.echo(f"report {revision['reportWaiting']}")
    now = time.time()
    headers = ["NAME", "PHASE", "STAGE", "ATTEMPT", "RESTARTS", "ACTIVITY", "COST", "BRANCH",
               "WINDOW", "REASON"]  # fmt: skip
    body = [
        [r["name"], r["phase"], stage_text(r), r["attempt"], restarts_text(r),
         _ago(iso_age(r["lastActivity"], now)),
         "-" if r["costUsd"] is None else f"${r['costUsd']:.2f}", r["branch"], r["window"],
         r["reason"]]
        for r in view.rows
    ]  # fmt: skip
    typer.echo(table(headers, body) if body else "no workers")
    if view.foreign:
        typer.echo(f"\nforeign windows on this socket (never touched): {len(view.foreign)}")
        typer.echo(table(["WINDOW", "NAME", "WHY"],
                         [[f["window"], f["name"], f["why"]] for f in view.foreign]))  # fmt: skip


def _reconciler_line(info: dict[str, Any]) -> str:
    """``reconciler: orch reconcile --watch, pid 12 on h since T; last pass 3s ago``."""
    last = info.get("lastPassAgo")
    passed = "no pass yet" if last is None else f"last pass {_ago(last)}"
    if info.get("running") is False:
        return f"reconciler: none running ({passed}); nothing changes until `orch reconcile`"
    kind = "orch reconcile --watch" if info.get("watch") else "orch reconcile"
    if info.get("running") is None:
        kind += " (maybe: the kernel does not say whether the lock is held)"
    return (f"reconciler: {kind}, pid {info.get('pid')} on {info.get('host')} "
            f"since {info.get('since')}; {passed}")  # fmt: skip


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
