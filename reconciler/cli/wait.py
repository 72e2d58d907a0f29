"""`orch wait`: block until workers are done, then exit with how it went."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run
from reconciler.cli.table import table

commands = typer.Typer()


@commands.command(
    epilog="Exit codes: 0 every worker Succeeded; 1 one Failed (or is Blocked by a failed "
    "dependency), or an unknown worker; 124 --timeout ran out.\n\n"
    "Examples: orch wait; orch wait w1 w2 --timeout 2h; "
    "orch wait --json | jq '.workers[] | select(.phase==\"Failed\")'\n\n"
    "It only reads: phases move while `orch reconcile --watch` runs (it says so when none "
    "does), so start one first, in another terminal or as a service."
)
def wait(
    workers: Annotated[
        list[str] | None,
        typer.Argument(
            help="Workers to wait for. Default: every worker of this host.", show_default=False
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", help='Give up after this long ("90s", "10m", "2h"): exit 124.'),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Wait until the workers are Succeeded, Failed or Blocked; print a summary table."""
    from reconciler.core.duration import parse_duration
    from reconciler.core.errors import UsageError
    from reconciler.loop.wait import WaitResult, wait_for

    def go() -> WaitResult:
        try:
            seconds = None if timeout is None else parse_duration(timeout)
        except ValueError as err:
            msg = f"--timeout: {err}"
            raise UsageError(msg) from None
        return wait_for(
            CTX.root,
            workers or [],
            timeout=seconds,
            notice=lambda line: typer.echo(f"note: {line}", err=True),
            on_final=(lambda row: None) if as_json else _tell_final,
        )

    done = run(go, json_errors=as_json)
    if as_json:
        emit_json(done.to_json())
    else:
        _summary(done.rows, done.timed_out)
    raise typer.Exit(done.code)


def _tell_final(row: dict[str, Any]) -> None:
    typer.echo(f"{row['name']}: {row['phase']}")


def _summary(rows: list[dict[str, Any]], timed_out: bool) -> None:
    from reconciler.core.outcome import FINAL_PHASES
    from reconciler.core.rows import stage_text

    if not rows:
        typer.echo("no workers")
        return
    body = [[r["name"], r["phase"], stage_text(r), r.get("reason") or ""] for r in rows]
    typer.echo(table(["NAME", "PHASE", "STAGE", "REASON"], body))
    if timed_out:
        waiting = [str(r["name"]) for r in rows if r["phase"] not in FINAL_PHASES]
        typer.echo(f"timed out waiting for {', '.join(waiting)}", err=True)
