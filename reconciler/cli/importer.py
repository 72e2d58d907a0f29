"""`orch import DIR`: specs from the JSON configuration of the orchestrator orch replaces."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run

commands = typer.Typer()

EPILOG = """\
Examples:

  orch import ~/old-orchestrator/config               into this control repo

  orch import ~/old/config --out ~/fleet --json       into another one, JSON for scripts

Reads repos.json (Repos), workflows.json (each Repo's workflows, where a step's
condition holds) and every *-issues.json (a Pipeline, a WorkerSet over the
issues, prompt templates with the project context). Runtime fields (status,
assigned_worker, pipeline_stage) are ignored; every other field without an
equivalent is listed. Nothing is overwritten without --force, and when the
result does not validate every file is put back and the problems printed.
"""


@commands.command("import", epilog=EPILOG)
def import_(
    directory: Annotated[
        Path, typer.Argument(help="The folder of the original JSON files.", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="The control repo to write into (default: this one).", show_default=False
        ),
    ] = None,
    agent: Annotated[str, typer.Option("--agent", help="The Agent of the workers.")] = "claude",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files of an earlier import.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write specs equivalent to the original orchestrator's JSON configuration."""
    from reconciler.loop.import_original import import_dir

    target = (out or CTX.target).expanduser().resolve()
    report = run(
        lambda: import_dir(directory.expanduser().resolve(), target, os.environ, agent=agent,
                           force=force),
        json_errors=as_json,
    )  # fmt: skip
    if as_json:
        emit_json({"ok": True, **dataclasses.asdict(report)})
        return
    for rel in report.files:
        typer.echo(f"wrote {rel}")
    typer.echo(
        f"ok: {report.workers} workers, {report.repos} repos, {report.pipelines} pipelines "
        f"validate in {target}"
    )
    if report.ignored:
        counts = ", ".join(f"{k} ({n})" for k, n in sorted(report.ignored.items()))
        typer.echo(f"ignored runtime fields: {counts}")
    if report.unmapped:
        typer.echo(f"not mapped ({len(report.unmapped)}):")
        for item in report.unmapped:
            typer.echo(f"  {item}")
