"""`orch validate`, `orch schema`, `orch get`, `orch init`: commands about the specs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, fail, run
from reconciler.cli.table import table
from reconciler.core.errors import UsageError

commands = typer.Typer()


def _load(require_env: bool = False) -> object:
    from reconciler.spec.validate import load_desired

    return load_desired(CTX.root, os.environ, require_env=require_env)


@commands.command(epilog="Example: orch validate --json | jq .errors")
def validate(as_json: JsonOpt = False) -> None:
    """Check every spec and config/orch.yaml; print ALL problems as file:line:col.

    Prompt and report templates are compiled and rendered for each worker, and
    each Agent's argv is checked. Exit 0 when valid, 1 when not (nothing is ever
    changed by this command). An agent program missing on this machine is a
    warning (a CI machine may lack the agent's CLI); a start there would fail.
    """
    from reconciler.core.model import Desired
    from reconciler.spec.argv import missing_programs

    desired = run(lambda: _load(require_env=True), json_errors=as_json)
    assert isinstance(desired, Desired)
    counts = {
        "workers": len(desired.workers),
        "repos": len(desired.repos),
        "pipelines": len(desired.pipelines),
        "agents": sum(1 for a in desired.agents.values() if not a.builtin),
    }
    warnings = missing_programs(desired, os.environ)
    if as_json:
        emit_json({"ok": True, **counts, "warnings": [w.as_dict() for w in warnings]})
        return
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo("ok: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


KINDS_HELP = "repo, agent, pipeline, worker, workerset, or config (config/orch.yaml)"


SCHEMA_EPILOG = """\
Examples:

  orch schema                   one schema for any document of a spec file (by kind)

  orch schema worker > worker.schema.json

  orch schema --write           refresh schema/orch.json and schema/config.json here

Editors: a spec file starting with
"# yaml-language-server: $schema=../schema/orch.json" is checked as you type
(VS Code: the YAML extension; `orch init` writes both files and the mapping in
.vscode/settings.json).
"""


@commands.command(epilog=SCHEMA_EPILOG)
def schema(
    kind: Annotated[str | None, typer.Argument(help=KINDS_HELP, show_default=False)] = None,
    write: Annotated[
        bool,
        typer.Option("--write", help="Write the schemas into the control repo's schema/ folder."),
    ] = False,
) -> None:
    """Print the JSON Schema of a kind; without KIND, one schema for every spec document."""
    from reconciler.spec.schemas import SCHEMA_NAMES, combined_schema, load_schema

    if write:
        from reconciler.cli.init import write_schemas

        paths = run(lambda: write_schemas(CTX.root))
        for path in paths:
            typer.echo(f"wrote {path}")
        return

    def pick() -> object:
        if kind is None:
            return combined_schema()
        key = kind.lower()
        if key not in SCHEMA_NAMES:
            msg = f'unknown kind "{kind}"; use one of: {", ".join(SCHEMA_NAMES)}'
            raise UsageError(msg)
        return load_schema(key)

    typer.echo(json.dumps(run(pick), indent=2, ensure_ascii=False))


GET_KINDS = ("workers", "repos", "pipelines", "agents")


@commands.command(epilog="Examples: orch get workers; orch get pipelines --json")
def get(
    kind: Annotated[str, typer.Argument(help="workers, repos, pipelines or agents")],
    as_json: JsonOpt = False,
) -> None:
    """List the desired objects of a kind (WorkerSets expanded into their workers)."""
    from reconciler.core.model import Desired
    from reconciler.spec.describe import describe

    key = kind.lower().rstrip("s") + "s"
    if key not in GET_KINDS:
        fail(UsageError(f'cannot get "{kind}"; use one of: {", ".join(GET_KINDS)}'))
    desired = run(_load, json_errors=as_json)
    assert isinstance(desired, Desired)
    headers, rows, items = describe(desired, key)
    if as_json:
        emit_json({key: items})
    else:
        typer.echo(table(headers, rows))


@commands.command(epilog="Example: orch init ~/fleet && cd ~/fleet && orch validate")
def init(
    directory: Annotated[Path, typer.Argument(help="A new or empty folder.")],
) -> None:
    """Scaffold a new control repo: git init, example specs that validate, config, README."""
    from reconciler.cli.init import scaffold

    made = run(lambda: scaffold(directory))
    typer.echo(f"created control repo in {made}")
    typer.echo(f"next: cd {made} && orch validate && orch plan")


@commands.command(
    epilog="Examples: orch agents; orch agents --json | jq '.agents[] | select(.onPath|not)'"
)
def agents(as_json: JsonOpt = False) -> None:
    """List the agents workers can use: built-in profiles and your Agent documents.

    Each with the command line it runs (templates shown as <name>), where it comes
    from, and whether its program is on PATH here.
    """
    import shutil

    from reconciler.core.model import Desired
    from reconciler.core.redact import redact_env

    desired = run(_load, json_errors=as_json)
    assert isinstance(desired, Desired)
    items = []
    for a in sorted(desired.agents.values(), key=lambda a: (not a.builtin, a.name)):
        line = " ".join(_sample(arg) for arg in a.command)
        items.append({
            "name": a.name,
            "profile": a.profile or None,
            "source": "built-in profile" if a.builtin else f"{a.source.path}:{a.source.line}",
            "command": line,
            "program": a.command[0],
            "onPath": shutil.which(a.command[0]) is not None,
            "env": redact_env(a.env),
        })  # fmt: skip
    if as_json:
        emit_json({"agents": items})
        return
    rows = [[i["name"], i["source"], "yes" if i["onPath"] else "NO", i["command"]] for i in items]
    typer.echo(table(["NAME", "FROM", "ON PATH", "COMMAND"], rows))


def _sample(arg: str) -> str:
    """An argv template as a person reads it: ``{{ prompt_file }}`` -> ``<prompt_file>``."""
    import re

    return re.sub(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}", r"<\1>", arg)
