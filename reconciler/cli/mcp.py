"""`orch mcp`: serve the Model Context Protocol over stdio (reconciler.mcp_server)."""

from __future__ import annotations

import typer

from reconciler.cli.runner import CTX, run

commands = typer.Typer()

EPILOG = """\
Examples:

\b
  orch --root ~/fleet mcp                         what an MCP client runs
  claude mcp add orch -e ORCH_ROOT=$HOME/fleet -- orch mcp

Tools: fleet status, one worker's status and log tail, plan, one reconcile pass,
restart, suspend and resume a worker (as `orch restart` and `orch suspend` do:
through the watcher's request queue when one runs), render the report; the
repos table, run a workflow (bounded: 30 minutes at most), list, add, start and
finish tasks.
Resources: the report, tasks/*.md and playbooks/. See docs/setup.md for Claude
Desktop and Claude Code. stdout carries the protocol; nothing else is printed there.
"""


@commands.command(epilog=EPILOG)
def mcp() -> None:
    """Serve orch's tools and files to an MCP client (Claude Desktop, Claude Code) over stdio."""
    from reconciler.mcp_server.server import serve

    run(lambda: serve(CTX.root))
