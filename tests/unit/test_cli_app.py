"""The CLI builds only the group of the command it runs (start-up stays flat)."""

from __future__ import annotations

import typer.main

from reconciler.cli.app import app, app_for


def _commands(made: typer.Typer) -> set[str]:
    group = typer.main.get_command(made)
    return set(group.commands)  # type: ignore[attr-defined]


def test_every_command_runs_from_an_app_of_its_own_group() -> None:
    every = _commands(app)
    assert {"validate", "status", "repos", "task", "mcp"} <= every
    for name in every:
        made = app_for(["--root", "somewhere", name, "--json"])
        assert made is not app, name
        assert name in _commands(made) and len(_commands(made)) < len(every), name


def test_help_version_and_unknown_commands_get_the_whole_app() -> None:
    assert app_for([]) is app
    assert app_for(["--help"]) is app
    assert app_for(["-h", "status"]) is app
    assert app_for(["--version"]) is app
    assert app_for(["no-such-command"]) is app
