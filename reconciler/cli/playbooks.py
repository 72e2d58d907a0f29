"""`orch playbook list|show`: the guides in playbooks/ (the control repo's, then built-in)."""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run
from reconciler.cli.table import table

commands = typer.Typer()
playbook_app = typer.Typer(
    help="Guides for common work with orch: which specs to write, which commands to run.",
    epilog="Examples: orch playbook list; orch playbook show parallel-proof-work",
    no_args_is_help=True,
)
commands.add_typer(playbook_app, name="playbook")


@playbook_app.command("list", epilog="Example: orch playbook list --json | jq -r '.[].name'")
def list_(as_json: JsonOpt = False) -> None:
    """List the playbooks: name, title and summary, and where each comes from."""
    from reconciler.loop.playbooks import list_playbooks

    books = run(lambda: list_playbooks(CTX.root), json_errors=as_json)
    if as_json:
        emit_json([
            {"name": b.name, "title": b.title, "summary": b.summary, "source": b.source}
            for b in books
        ])  # fmt: skip
        return
    typer.echo(table(["NAME", "TITLE", "FROM"], [[b.name, b.title, b.source] for b in books]))


@playbook_app.command(epilog="Example: orch playbook show bug-fix | less")
def show(
    name: Annotated[str, typer.Argument(help="A name from `orch playbook list`.")],
) -> None:
    """Print a playbook (markdown). An unknown name exits 1 and lists the names."""
    from reconciler.loop.playbooks import show_playbook

    book = run(lambda: show_playbook(CTX.root, name))
    typer.echo(book.text, nl=not book.text.endswith("\n"))
