"""`orch repos`: every Repo of the specs in one table; `orch repos pull` fast-forwards the clean."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run
from reconciler.cli.table import table

if TYPE_CHECKING:
    from reconciler.core.repo_rows import RepoRow

commands = typer.Typer()
group = typer.Typer(
    help="Every Repo of the specs: branch, changes, upstream, last commit, worktrees, workers.",
    epilog="""\
Examples:

\b
  orch repos                    one row a repo (git is read in parallel; nothing is fetched)
  orch repos --json             the same as JSON, for scripts
  orch repos pull               fetch and fast-forward every clean repo
  orch repos pull app docs      only these

A repo that is missing, not cloned yet or broken is a row with its error.""",
    invoke_without_command=True,
    no_args_is_help=False,
)
commands.add_typer(group, name="repos")

SUBJECT = 60  # characters of a commit subject in the table (--json has it whole)
HEADERS = ["REPO", "BRANCH", "CHANGES", "UPSTREAM", "WORKTREES", "WORKERS", "LAST COMMIT"]


@group.callback(invoke_without_command=True)
def repos(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """One row a Repo: branch, changes, upstream, last commit, orch worktrees and workers.

    CHANGES counts staged, unstaged and untracked paths; UPSTREAM is the
    upstream branch and how many commits the branch is ahead (+) and behind
    (-) it, as of the last fetch (`orch repos pull` fetches).
    """
    if ctx.invoked_subcommand is not None:
        return
    from reconciler.loop.repos import load_specs, repo_rows

    rows = run(lambda: repo_rows(load_specs(CTX.root)), json_errors=as_json)
    now = time.time()
    if as_json:
        emit_json({"repos": [row.to_json(now) for row in rows]})
        return
    typer.echo(table(HEADERS, [_cells(row, now) for row in rows]) if rows else "no repos")


def _cells(row: RepoRow, now: float) -> list[object]:
    from reconciler.core.duration import format_age

    s, c = row.status, row.last_commit
    if s is None:
        return [row.name, "-", "-", "-", row.worktrees, row.workers, f"error: {row.error}"]
    branch = s.branch or (f"(detached {s.oid[:10]})" if s.oid else "-")
    last = "(no commits)"
    if c is not None:
        subject = c.subject if len(c.subject) <= SUBJECT else c.subject[: SUBJECT - 1] + "…"
        last = f"{format_age(now - c.time)} ago  {subject}"
    return [row.name, branch, s.changes_text(), s.sync_text(), row.worktrees, row.workers, last]


@group.command(
    epilog="Examples: orch repos pull; orch repos pull app docs --json\n\n"
    "Exit code 1 when git failed on a repo; a refused or skipped repo is reported, not failed."
)
def pull(
    names: Annotated[
        list[str] | None, typer.Argument(help="Repos to pull (default: every Repo).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch and fast-forward clean repos to their upstream; report the rest.

    A dirty repo (anything staged, unstaged or untracked) is not even fetched;
    one that diverged from its upstream is fetched but never moved; a detached
    HEAD or a branch without upstream is skipped. A Repo given by url and not
    cloned yet is cloned.
    """
    from reconciler.loop.repos import load_specs, pull_repos

    results = run(
        lambda: pull_repos(load_specs(CTX.root), names or ()),
        json_errors=as_json,
    )
    if as_json:
        emit_json({"repos": [r.to_json() for r in results]})
    else:
        body = [[r.name, r.result, _moved(r.before, r.after), r.reason] for r in results]
        typer.echo(table(["REPO", "RESULT", "HEAD", "DETAIL"], body) if body else "no repos")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _moved(before: str | None, after: str | None) -> str:
    if before and after and before != after:
        return f"{before[:10]}..{after[:10]}"
    return (after or before or "-")[:10]
