"""`orch backups`: list the backup refs teardowns wrote, and restore one to a branch."""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, fail, run
from reconciler.cli.table import table
from reconciler.core.errors import UsageError

commands = typer.Typer()

_EPILOG = """Examples:

\b
  orch backups                          every backup, newest first
  orch backups improve-docs --json      one worker's backups, for scripts
  orch backups restore improve-docs/20261201T101500Z
                                        a new branch restored/improve-docs-20261201T101500Z
  orch backups restore app:w1/20261201T101500Z --to rescue
                                        REPO: picks the repo when two hold the ref

A restored branch's tip holds the uncommitted and untracked work as one commit
whose first parent is the worker's HEAD at teardown; `git checkout` it in the
repo, or `git worktree add` it. Existing branches are never moved."""


@commands.command(epilog=_EPILOG)
def backups(
    worker: Annotated[
        str | None,
        typer.Argument(help="Only this worker's backups; or `restore`.", show_default=False),
    ] = None,
    ref: Annotated[
        str | None, typer.Argument(help="restore: the backup (as listed).", show_default=False)
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="restore: the new branch's name.", show_default=False)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List backup refs (time, worker, what each holds), or restore one: `backups restore REF`.

    Teardowns save everything a worktree held to refs/orch/backups/<worker>/<time>
    in the worker's repo. The list shows, per backup, the commits beyond the
    repo's default branch (and how many of them no branch reaches), the tracked
    files with uncommitted changes and the untracked files.
    """
    if worker == "restore":
        if ref is None:
            fail(UsageError("orch backups restore REF: name the backup (orch backups lists them)"))
        _restore(ref, to, as_json)
        return
    if ref is not None or to is not None:
        fail(UsageError("a REF and --to go with `orch backups restore REF`"))
    _list(worker, as_json)


def _list(worker: str | None, as_json: bool) -> None:
    from reconciler.loop.backups import list_backups, load_for_backups

    desired, warning = run(lambda: load_for_backups(CTX.root), json_errors=as_json)
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    found = run(lambda: list_backups(desired, worker), json_errors=as_json)
    if as_json:
        emit_json({"backups": [b.to_json() for b in found]})
        return
    if not found:
        typer.echo("no backups" + (f" of {worker}" if worker else ""))
        return
    rows = [[b.to_json()["time"] or "-", b.worker, b.repo,
             b.ref.removeprefix("refs/orch/backups/"), b.summary()] for b in found]  # fmt: skip
    typer.echo(table(["TIME", "WORKER", "REPO", "BACKUP", "HOLDS"], rows))


def _restore(ref: str, to: str | None, as_json: bool) -> None:
    from reconciler.loop.backups import load_for_backups, restore

    desired, warning = run(lambda: load_for_backups(CTX.root), json_errors=as_json)
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    backup, branch, path = run(lambda: restore(desired, ref, to), json_errors=as_json)
    if as_json:
        emit_json({"backup": backup.to_json(), "branch": branch, "repo": str(path)})
        return
    typer.echo(f"branch {branch} in {path}: {backup.summary()} from {backup.ref}")
