"""`orch dashboard`: the fleet, live, one row a worker, refreshed every second."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.runner import CTX, run

if TYPE_CHECKING:
    from rich.console import Console

commands = typer.Typer()
PIPE_WIDTH = 160  # --once into a pipe or file: wide enough for the last log lines

EPILOG = """\
Examples:

\b
  orch dashboard                live view until Ctrl-C
  orch dashboard --once         one frame as plain text, then exit
  orch attach                   the fleet session: its window 0 runs the dashboard (C-b w)

Rows: phase (coloured; Failed and Limited first), stage i/n, attempt, restarts,
last activity, log growth over the last refreshes, cost when the agent reports
it, and the last line the agent wrote. The header holds the counts per phase,
the specs' revision, the last reconcile pass and the running watcher; the newest
events are at the bottom. It only reads: it never takes the reconciler's lock.
"""


@commands.command(epilog=EPILOG)
def dashboard(
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="Seconds between refreshes.")
    ] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
) -> None:
    """Watch the fleet live: phases, stages, activity, cost, last log lines and events."""
    from rich.console import Console

    from reconciler.core.dashboard import render, render_text
    from reconciler.loop.dashboard import Sampler

    sampler = Sampler(CTX.root)
    console = Console()
    if once or not console.is_terminal:
        width = console.width if console.is_terminal else PIPE_WIDTH
        frame = run(lambda: sampler.frame(time.time(), width, 10_000, keep_going=False))
        typer.echo(render_text(frame).rstrip())
        return

    from rich.live import Live

    try:
        with Live(console=console, screen=True, auto_refresh=False, transient=True) as live:
            while True:
                width, height = console.size = _terminal_size(console)
                live.update(render(sampler.frame(time.time(), width, height)), refresh=True)
                time.sleep(interval)
    except KeyboardInterrupt:
        return


def _terminal_size(console: Console) -> tuple[int, int]:
    """The terminal's size now (a resized window is redrawn to fit), not $COLUMNS/$LINES."""
    import os
    import sys

    try:
        return tuple(os.get_terminal_size(sys.stdout.fileno()))  # type: ignore[return-value]
    except (OSError, ValueError):
        return console.size.width, console.size.height
