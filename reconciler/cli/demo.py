"""`orch demo [DIR]`: real Claude Code workers walk a pipeline, offline, in under a minute."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.runner import CTX, run

if TYPE_CHECKING:
    from reconciler.cli.demo_fleet import DemoFleet
    from reconciler.loop.engine import PassResult

commands = typer.Typer()
API_URL_VAR = "ORCH_DEMO_API_URL"  # the demo's Agent takes ANTHROPIC_BASE_URL from it
SOCKET_VAR = "ORCH_TMUX_SOCKET"

EPILOG = """\
Examples:

  orch demo                     in a new temp folder; prints where

  orch demo ~/orch-demo         in this (new or empty) folder

  orch demo --claude ~/bin/claude

Exit codes: 0 every worker Succeeded; 1 a worker Failed, the time ran out, or
the demo could not be set up; 130 interrupted (the agents keep running: the
printed clean-up line stops them).
"""


@commands.command(epilog=EPILOG)
def demo(
    directory: Annotated[
        Path | None,
        typer.Argument(help="A new or empty folder. Default: a new temporary folder."),
    ] = None,
    claude: Annotated[
        Path | None,
        typer.Option(
            "--claude",
            help="The claude binary. Default: on PATH, else the one ./scripts/setup installs.",
        ),
    ] = None,
    socket: Annotated[
        str | None,
        typer.Option("--socket", help="The tmux socket. Default: orch-demo-<random>."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for every worker to finish.")
    ] = 180.0,
) -> None:
    """Watch three real Claude Code workers go through a pipeline, offline.

    Sets up DIR/app (a small git repo) and DIR/control (a control repo: three
    `claude` workers, stages plan and build), serves a scripted stand-in for the
    Anthropic API on 127.0.0.1 (no API key, no network) and runs `orch reconcile
    --watch` until every worker has finished: `docs` goes straight through,
    `tests` stalls and is resumed with a summary of its progress, `lint` ends a
    turn without its signal file and the Stop hook sends it back. Then it prints
    the fleet's status, how to look around and how to clean up.
    """
    from reconciler.cli.demo_fleet import find_claude, make_demo

    source_tree = Path(__file__).resolve().parents[2]
    binary = run(lambda: find_claude(claude, os.environ.get("PATH"), source_tree))
    fleet = run(lambda: make_demo(directory, binary, socket))
    orch = _orch_command()
    control = shlex.quote(str(fleet.control))
    if os.environ.get(SOCKET_VAR, fleet.socket) != fleet.socket:
        typer.echo(f"demo: note: {SOCKET_VAR} is set in your shell; unset it for the commands"
                   " printed below (the demo has its own tmux server)")  # fmt: skip
    os.environ[SOCKET_VAR] = fleet.socket  # it would override the demo's config
    typer.echo(f"demo: set up in {fleet.folder}: app/ (a small git repo), control/ (the fleet's")
    typer.echo("      specs, config and prompts), stub-script.json (what the stand-in model says)")
    typer.echo(f"demo: claude is {binary}")
    typer.echo(f"demo: watch live from another terminal: {orch} --root {control} attach")
    started = time.monotonic()
    progress = _Progress(started + timeout)
    outcome = _watch(fleet, progress)
    _finish(fleet, orch, outcome, progress, time.monotonic() - started)


class _Progress:
    """Whether the watch may end: every worker finished, or the time is up."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.failed: list[str] = []
        self.stalls: dict[str, int] = {}  # worker -> stops for a stall
        self.resumed: dict[str, int] = {}  # worker -> starts that resumed its session

    def emitter(self) -> Callable[[object], None]:
        """The watch's usual printer, counting stalls and resumes on the way."""
        from reconciler.cli.fleet import emitter
        from reconciler.loop.events import Event

        show = emitter(False)

        def emit(item: object) -> None:
            if isinstance(item, Event):
                if item.verb == "stop-agent" and item.reason.startswith("stalled"):
                    self.stalls[item.worker] = self.stalls.get(item.worker, 0) + 1
                if item.verb == "start-agent" and item.detail.get("resumed"):
                    self.resumed[item.worker] = self.resumed.get(item.worker, 0) + 1
            show(item)

        return emit

    def finished(self, result: PassResult) -> bool:
        from reconciler.core.actions import Phase

        if time.monotonic() > self.deadline:
            return True
        plan = result.plan
        phases = [s.phase for s in plan.statuses.values()]
        self.failed = sorted(n for n, s in plan.statuses.items() if s.phase == Phase.FAILED)
        ended = all(p in (Phase.SUCCEEDED, Phase.FAILED) for p in phases)
        return bool(phases) and ended and not plan.actions and not plan.stopping


def _watch(fleet: DemoFleet, progress: _Progress) -> str:
    """Serve the stub and reconcile until done; "done", "timeout" or "interrupted"."""
    import signal

    from reconciler.loop.watch import StopFlag, Trigger, watch_loop
    from reconciler.stubapi import Script, StubAPI

    flag = StopFlag(Trigger(), hard_exit=True)
    old = flag.install()
    script = Script.load(fleet.script)
    try:
        with StubAPI(script, record=fleet.folder / "stub-requests.jsonl") as stub:
            os.environ[API_URL_VAR] = stub.url
            typer.echo(f"demo: the stand-in model listens on {stub.url}")
            run(
                lambda: watch_loop(
                    fleet.control,
                    allow_mass_prune=False,
                    emit=progress.emitter(),
                    stop=flag,
                    until=progress.finished,
                )
            )
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
    if flag.requested:
        return "interrupted"
    return "timeout" if time.monotonic() > progress.deadline else "done"


def _finish(fleet: DemoFleet, orch: str, outcome: str, progress: _Progress, seconds: float) -> None:
    """The fleet's status, what happened, where to look, how to clean up; the exit code."""
    from reconciler.cli.status import status

    CTX.root = fleet.control
    typer.echo("")
    status(as_json=False)
    typer.echo("\nwhat happened:")
    for name in ("docs", "tests", "lint"):
        typer.echo(f"  {name:<6} {_story(fleet, name, progress)}")
    control, app = shlex.quote(str(fleet.control)), shlex.quote(str(fleet.app))
    look = [
        (f"{orch} --root {control} status", "the table above, any time"),
        (f"{orch} --root {control} attach tests", "an agent's tmux window (Ctrl-b d leaves)"),
        (f"{orch} --root {control} logs tests", "its run log (Claude's stream-json)"),
        (f"git -C {app} log --oneline --all", "what the agents committed"),
        (f"cat {control}/README.md", "what the demo shows, and how"),
    ]
    width = max(len(command) for command, _ in look)
    lines = ["", "look around:"]
    lines += [f"  {command:<{width}}  # {note}" for command, note in look]
    folder = shlex.quote(str(fleet.folder))
    clean = f"{orch} --root {control} cleanup --all --yes; tmux -L {fleet.socket} kill-server"
    lines += ["clean up:", f"  {clean}; rm -rf {folder}"]
    typer.echo("\n".join(lines))
    if outcome == "interrupted":
        typer.echo("demo: interrupted; the agents keep running until cleaned up", err=True)
        raise typer.Exit(130)
    if outcome == "timeout":
        typer.echo(f"demo: not finished after {seconds:.0f}s", err=True)
        raise typer.Exit(1)
    if progress.failed:
        failed = ", ".join(progress.failed)
        typer.echo(f"demo: {failed} Failed (see the REASON column)", err=True)
        raise typer.Exit(1)
    typer.echo(f"demo: every worker Succeeded in {seconds:.0f}s")


def _story(fleet: DemoFleet, name: str, progress: _Progress) -> str:
    """One line on what a worker went through, from the events and its hook log."""
    parts = []
    stalls, resumed = progress.stalls.get(name, 0), progress.resumed.get(name, 0)
    if stalls:
        how = "resumed its Claude session" if resumed else "started it afresh"
        parts.append(f"stalled {stalls}x; orch stopped it and {how} with a summary of its progress")
    nudges = _nudges(fleet.control / "worktrees" / "app" / name / ".orch" / "hooks.jsonl")
    if nudges:
        parts.append(f"ended a turn without its signal file {nudges}x; the Stop hook sent it back")
    return "; ".join(parts) or "went straight through its stages"


def _nudges(hook_log: Path) -> int:
    import json

    try:
        lines = hook_log.read_text().splitlines()
    except OSError:
        return 0
    return sum(1 for line in lines if line.strip() and json.loads(line).get("nudged") is True)


def _orch_command() -> str:
    """How the user ran orch (``.venv/bin/orch`` is often not on PATH as ``orch``)."""
    argv0 = sys.argv[0]
    if Path(argv0).name == "orch":
        return "orch" if os.sep not in argv0 else shlex.quote(argv0)
    return f"{shlex.quote(sys.executable)} -m reconciler"
