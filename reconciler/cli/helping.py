"""`orch send`, `orch takeover`, `orch release`: a person watching and helping a worker."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from reconciler.cli.operations import NoWaitOpt, WorkerArg, _epilog, _perform
from reconciler.cli.runner import CTX, run

commands = typer.Typer()


@commands.command(
    epilog="Examples:\n\n\b\n"
    "  orch send w1 1                      answer a permission prompt with its first choice\n"
    "  orch send w1 'Use the v2 API.'      a message, as if typed at the prompt\n\n"
    "Only an interactive worker (mode: interactive, or taken over) reads a keyboard; "
    "`orch status` shows which ones wait (NeedsInput) and why."
)
def send(
    worker: WorkerArg,
    text: Annotated[str, typer.Argument(help="What to type, literally (then Enter).")],
) -> None:
    """Type TEXT into an interactive worker's window, then press Enter."""
    from reconciler.loop.takeover import send as send_text

    for line in run(lambda: send_text(CTX.root, worker, text)):
        typer.echo(line)


@commands.command(
    epilog=_epilog(
        ("orch takeover w1", "supervision off; attach to w1's window"),
        ("orch takeover w1 --no-attach", "print the attach command instead"),
        ("orch release w1", "hand it back: supervision resumes, the stage goes on"),
    )
)
def takeover(
    worker: WorkerArg,
    no_attach: Annotated[
        bool, typer.Option("--no-attach", help="Print the attach command; do not attach.")
    ] = False,
    no_wait: NoWaitOpt = False,
) -> None:
    """Take a worker over: orch stops supervising it, and you drive it in its window.

    A headless claude run is stopped and its session resumed interactively in the
    same window (same worktree and config); then this attaches to the window (off
    a terminal it prints the command). The worker shows TakenOver: never restarted,
    stopped or torn down (removed from the specs, it waits for `orch release` or
    `orch cleanup --force`) until `orch release`.
    """
    from reconciler.loop.takeover import attach_argv

    _perform("takeover", [worker], no_wait)
    if no_wait:
        return
    argv = run(lambda: attach_argv(CTX.root, worker))
    if no_attach or not (sys.stdin.isatty() and sys.stdout.isatty()):
        typer.echo("attach with: " + " ".join(argv))
        return
    import os

    os.execvp(argv[0], argv)


@commands.command(epilog=_epilog(("orch release w1", "supervision of w1 resumes now")))
def release(worker: WorkerArg, no_wait: NoWaitOpt = False) -> None:
    """Hand a taken-over worker back to orch: supervision resumes, the stage goes on.

    Its stage completes by its signal file as before; the stage's timeout counts
    from the release.
    """
    _perform("release", [worker], no_wait)
