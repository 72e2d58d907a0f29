"""The `orch` command line: parse arguments, call one function, print, exit.

Every OrchError becomes one line on stderr and its exit code; anything else
becomes one line too, with the traceback written to state/debug.log.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from reconciler import __version__
from reconciler.core.errors import OrchError, SpecErrors

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
    help="Keep a fleet of AI coding-agent workers equal to the YAML specs in a git control repo.",
    epilog=EPILOG_MAIN,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

T = TypeVar("T")


class _Ctx:
    root: Path = Path.cwd()


CTX = _Ctx()
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


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
            "holding specs/ or config/orch.yaml, else the current folder.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Keep a fleet of AI coding-agent workers equal to the YAML specs in a git control repo."""
    from reconciler.cli.root import find_root

    CTX.root = find_root(root, os.environ, Path.cwd())


def run(fn: Callable[[], T], *, json_errors: bool = False) -> T:
    """Call ``fn``; turn our errors into one line (or JSON) and an exit code."""
    try:
        return fn()
    except typer.Exit:
        raise
    except SpecErrors as err:
        if json_errors:
            typer.echo(json.dumps({"ok": False, "errors": [e.as_dict() for e in err.errors]}))
        else:
            for line in err.errors:
                typer.echo(str(line), err=True)
            typer.echo(f"{len(err.errors)} problem(s) found; nothing was changed.", err=True)
        raise typer.Exit(1) from None
    except OrchError as err:
        if json_errors:
            typer.echo(json.dumps({"ok": False, "error": str(err)}))
        else:
            typer.echo(f"error: {err}", err=True)
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as err:  # noqa: BLE001 - the last resort: one line, details in a file
        log = _debug_log(err)
        typer.echo(f"internal error: {type(err).__name__}: {err} (details in {log})", err=True)
        raise typer.Exit(70) from None


def fail(err: OrchError) -> NoReturn:
    """Report ``err`` the way :func:`run` does, and exit."""

    def _raise() -> None:
        raise err

    run(_raise)
    raise typer.Exit(err.exit_code)


def _debug_log(err: BaseException) -> Path:
    path = CTX.root / "state" / "debug.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write("".join(traceback.format_exception(err)))
    except OSError:
        return Path("(unwritable)")
    return path


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    typer.echo(json.dumps(data, indent=2, default=str))


def main() -> None:
    """Entry point of the `orch` console script."""
    from reconciler.cli import fleet, report, specs  # noqa: F401 - they register commands

    # git must never stop a pass to ask for a password (fetch, push, clone).
    os.environ.setdefault("GIT_TERMINAL_PROMPT", "0")

    app(prog_name="orch")


if __name__ == "__main__":  # pragma: no cover
    # Run the imported module's app: as __main__ this file is a second copy whose
    # `app` never gets the commands registered on reconciler.cli.app.app.
    from reconciler.cli.app import main as _main

    _main()
