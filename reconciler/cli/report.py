"""`orch report`: render reports/status.md and optionally commit and push it."""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run

commands = typer.Typer()


@commands.command(
    epilog="Examples: orch report; orch report --commit; orch report --commit --push\n\n"
    "Edit reports/templates/status.md.j2 in the control repo to change the report. "
    "Set reports.branch (e.g. orch/status) to commit reports to a branch of their own, "
    "never checked out; --push and reports.push need one."
)
def report(
    commit: Annotated[
        bool,
        typer.Option("--commit", help="Commit the report when its content changed."),
    ] = False,
    push: Annotated[bool, typer.Option("--push", help="Commit, then push reports.branch.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Render the fleet status report (reports.path, default reports/status.md).

    The report is deterministic: an unchanged fleet renders the same bytes except
    its "Generated" line, and then nothing is written or committed. Commits are
    made with git plumbing: your work tree, index (but the report's own entry on
    the current branch) and stash are never touched. On the current branch no
    commit is made while HEAD is detached or a merge or rebase is in progress.
    """
    from reconciler.loop.views import report as render

    done = run(lambda: render(CTX.root, commit=commit, push=push), json_errors=as_json)
    if as_json:
        emit_json(done.to_json())
        return
    typer.echo(f"{done.path}: {done.note}" + (f" ({done.commit[:10]})" if done.commit else ""))
