"""`orch report`: render reports/status.md and optionally commit and push it."""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run

commands = typer.Typer()


@commands.command(
    epilog="Examples: orch report; orch report --commit; orch report --commit --push\n\n"
    "Edit reports/templates/status.md.j2 in the control repo to change the report."
)
def report(
    commit: Annotated[
        bool, typer.Option("--commit", help="Commit reports/ (only) when its content changed.")
    ] = False,
    push: Annotated[bool, typer.Option("--push", help="Push after committing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Commit even within reports.minInterval.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Render the fleet status report (reports.path, default reports/status.md).

    The report is deterministic: an unchanged fleet renders the same bytes except
    its "Generated" line, and then nothing is written or committed. Commits go
    through a temporary index, so what you have staged stays staged.
    """
    from reconciler.loop.views import report as render

    done = run(lambda: render(CTX.root, commit=commit, push=push, force=force), json_errors=as_json)
    if as_json:
        emit_json(done.to_json())
        return
    typer.echo(f"{done.path}: {done.note}" + (f" ({done.commit[:10]})" if done.commit else ""))
