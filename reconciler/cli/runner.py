"""What every command shares: the control repo in effect, the error map, JSON output.

Every OrchError becomes one line on stderr and its exit code; anything else
becomes one line too, with the traceback written to state/debug.log. A usage
error (an unknown command or option, a missing argument) exits 64, never 2,
which `orch plan` reserves for "changes pending".
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar, cast

import typer
from typer.core import TyperGroup

from reconciler.core.errors import OrchError, SpecErrors

T = TypeVar("T")
USAGE_EXIT = 64  # EX_USAGE of sysexits.h
# click's UsageError, wherever this typer takes click from (it vendors it since 0.26).
_ClickUsageError = cast(type[Exception], typer.BadParameter.__base__)


class _Ctx:
    """The control repo in effect, found when a command first needs it.

    Commands that work anywhere (init, schema, demo, hook, --help) never ask, so
    they run outside a control repo; the others fail with one line there.
    """

    def __init__(self) -> None:
        self._root: Path | None = None
        self._given: Path | None = None

    def locate(self, given: Path | None) -> None:
        """Remember ``--root``; the search happens at the first use of :attr:`root`."""
        self._root, self._given = None, given

    @property
    def root(self) -> Path:
        """The control repo (UsageError when there is none: call it inside :func:`run`)."""
        if self._root is None:
            from reconciler.cli.root import find_root

            self._root = find_root(self._given, os.environ, Path.cwd())
        return self._root

    @root.setter
    def root(self, value: Path) -> None:
        self._root = value

    @property
    def target(self) -> Path:
        """Where a command that writes a control repo's first files acts; need not be one yet."""
        from reconciler.cli.root import target_root

        return self._root or target_root(self._given, os.environ, Path.cwd())

    def found(self) -> Path | None:
        """The control repo if a command already found it, else None."""
        return self._root


CTX = _Ctx()


class OrchGroup(TyperGroup):
    """The `orch` command group: usage errors exit 64; an OrchError is one line, anywhere."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        """Parse the global options (usage errors exit 64)."""
        try:
            return super().make_context(*args, **kwargs)
        except _ClickUsageError as err:
            err.exit_code = USAGE_EXIT  # type: ignore[attr-defined]
            raise

    def invoke(self, ctx: Any) -> Any:
        """Find and run the command (usage errors exit 64)."""
        try:
            return super().invoke(ctx)
        except _ClickUsageError as err:
            err.exit_code = USAGE_EXIT  # type: ignore[attr-defined]
            raise
        except OrchError as err:  # one raised outside run(): still one line, never a traceback
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(err.exit_code) from None
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def run(fn: Callable[[], T], *, json_errors: bool = False, one_shot: bool = False) -> T:
    """Call ``fn``; turn our errors into one line (or JSON) and an exit code.

    ``one_shot``: no cyclic garbage collection while ``fn`` runs. A command
    that reads a large fleet once and exits (`orch status`) makes tens of
    thousands of short-lived objects; the collector's passes over them cost it
    ~10% of its time and would free next to nothing before the process ends.
    """
    paused = one_shot and gc.isenabled()
    if paused:
        gc.disable()
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
    finally:
        if paused:
            gc.enable()


def fail(err: OrchError) -> NoReturn:
    """Report ``err`` the way :func:`run` does, and exit."""

    def _raise() -> None:
        raise err

    run(_raise)
    raise typer.Exit(err.exit_code)


def _debug_log(err: BaseException) -> Path:
    root = CTX.found()  # never state/ in a folder that is not a control repo
    folder = root / "state" if root else Path(tempfile.gettempdir())
    path = folder / ("debug.log" if root else f"orch-debug-{os.getuid()}.log")
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
