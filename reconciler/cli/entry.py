"""The `orch` console script (and ``python -m reconciler``): the app, imported with the
cyclic garbage collector paused.

Importing the CLI builds tens of thousands of objects that live as long as the
process (typer, the model's dataclasses, libtmux); the collector's passes over
them while importing are ~5% of a short command and free nothing. Once
imported they are frozen out of its way (``gc.freeze``) and collection goes
on as usual, so long-running commands (``--watch``, the dashboard, the MCP
server) are collected as any program.
"""

from __future__ import annotations

import gc


def main() -> None:
    """Import the app with the collector paused, then run it."""
    gc.disable()
    try:
        from reconciler.cli.app import main as run_app
    finally:
        gc.freeze()
        gc.enable()
    run_app()
