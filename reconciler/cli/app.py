"""The `orch` application: global options, and every command group registered here.

The command modules (``fleet``, ``specs``, ``report``) each hold a Typer group
of their own and import only :mod:`reconciler.cli.runner`; this module adds
them all, in one place, so no command module imports the app.
"""

from __future__ import annotations

import os
import sys
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

GROUPS = (
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
)


def _new_app(groups: tuple[typer.Typer, ...]) -> typer.Typer:
    made = typer.Typer(
        name="orch",
        cls=OrchGroup,
        help="Keep a fleet of AI coding-agent workers equal to the YAML specs in a git control "
        "repo.",
        epilog=EPILOG_MAIN,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for group in groups:
        made.add_typer(group)
    made.callback()(main_options)
    return made


def _version(value: bool) -> None:
    if value:
        typer.echo(f"orch {__version__}")
        raise typer.Exit()


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


app = _new_app(GROUPS)


def command_name(argv: list[str]) -> str | None:
    """The command ``argv`` names (after the global options), or None.

    >>> command_name(["--root", "x", "status", "--json"])
    'status'
    >>> command_name(["--version"]) is None
    True
    """
    rest = iter(argv)
    for arg in rest:
        if arg == "--root":
            next(rest, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _names(group: typer.Typer) -> set[str]:
    """The command names a group adds to the app (its commands and its named subgroups)."""
    names = {c.name or (c.callback.__name__.replace("_", "-") if c.callback else "")
             for c in group.registered_commands}  # fmt: skip
    subgroups = {g.name or (g.typer_instance.info.name if g.typer_instance else None) or ""
                 for g in group.registered_groups}  # fmt: skip
    return names | subgroups


def app_for(argv: list[str]) -> typer.Typer:
    """The app to run ``argv`` with: only the group holding its command when one does.

    Typer turns every command of an app into a click command at each start,
    however few run; building one group instead of all keeps start-up flat as
    commands are added (bench/cli_startup.py).
    """
    name = command_name(argv)
    if name is None or "--help" in argv[: argv.index(name)] or "-h" in argv[: argv.index(name)]:
        return app
    for group in GROUPS:
        if name in _names(group):
            return _new_app((group,))
    return app


def main() -> None:
    """Entry point of the `orch` console script."""
    # git must never stop a pass to ask for a password (fetch, push, clone).
    os.environ.setdefault("GIT_TERMINAL_PROMPT", "0")

    app_for(sys.argv[1:])(prog_name="orch")


if __name__ == "__main__":  # pragma: no cover
    main()
