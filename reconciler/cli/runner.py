"""What every command shares: the control repo in effect, the error map, JSON output.

Every OrchError becomes one line on stderr and its exit code; anything else
becomes one line too, with the traceback written to state/debug.log.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from reconciler.core.errors import OrchError, SpecErrors

T = TypeVar("T")


class _Ctx:
    root: Path = Path.cwd()


CTX = _Ctx()
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


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
