"""The `orch` application: global options, and every command group registered here.

The command modules (``fleet``, ``specs``, ``report``) each hold a Typer group
of their own and import only :mod:`reconciler.cli.runner`; this module adds
them all, in one place, so no command module imports the app.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from reconciler import __version__
from reconciler.cli import (
    backups,
    dashboard,
    demo,
    fleet,
    helping,
    hook,
    importer,
    inspect_worker,
    items,
    mcp,
    operations,
    playbooks,
    report,
    repos,
    specs,
    status,
    tasks,
    wait,
    workflows,
)
from reconciler.cli.runner import CTX, OrchGroup

EPILOG_MAIN = """\
Examples:

  orch validate                 check every spec, print all problems at once

  orch plan                     show what reconcile would do (exit 2: changes pending)

  orch reconcile                apply one pass; --watch keeps going

  orch status                   one row a worker

  orch --root ~/fleet get workers --json
"""

app = typer.Typer(
    name="orch",
    cls=OrchGroup,
    help="Keep a fleet of AI coding-agent workers equal to the YAML specs in a git control repo.",
    epilog=EPILOG_MAIN,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
for group in (
    specs.commands,
    fleet.commands,
    status.commands,
    wait.commands,
    inspect_worker.commands,
    operations.commands,
    helping.commands,
    report.commands,
    repos.commands,
    workflows.commands,
    hook.commands,
    demo.commands,
    tasks.commands,
    importer.commands,
    playbooks.commands,
    items.commands,
    backups.commands,
    dashboard.commands,
    mcp.commands,
):
    app.add_typer(group)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"orch {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="The control repo. Default: $ORCH_ROOT, else the nearest parent folder "
            "holding specs/ or config/orch.yaml (an error when there is none).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Keep a fleet of AI coding-agent workers equal to the YAML specs in a git control repo."""
    CTX.locate(root)  # checked when a command first needs it: init, schema, demo need none


def main() -> None:
    """Entry point of the `orch` console script."""
    # git must never stop a pass to ask for a password (fetch, push, clone).
    os.environ.setdefault("GIT_TERMINAL_PROMPT", "0")

    app(prog_name="orch")


if __name__ == "__main__":  # pragma: no cover
    main()
