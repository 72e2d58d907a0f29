"""The MCP server of one control repo: every tool and resource registered here, served on stdio."""

from __future__ import annotations

import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer

from reconciler import __version__
from reconciler.mcp_server import resources
from reconciler.mcp_server.tools import TOOLS, FleetTools

INSTRUCTIONS = """\
orch keeps a fleet of AI coding-agent workers equal to the YAML specs of a git
control repo. Start with fleet_status; worker_status shows one worker and its
log. plan says what a reconcile would do; restart_worker, suspend_worker and
resume_worker act as the orch CLI does (suspend and resume commit the spec
file, so git stays the source of truth). Read the report, tasks and playbooks
as resources.
"""


def build_server(root: Path) -> MCPServer:
    """The server for the control repo at ``root``, with every tool and resource."""
    server = MCPServer(
        "orch",
        title="orch",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",  # stderr stays quiet: MCP clients show it as the server's log
    )
    tools = FleetTools(root)
    for name in TOOLS:
        server.add_tool(getattr(tools, name), name=name)
    resources.register(server, root)
    return server


def serve(root: Path) -> None:
    """Serve ``root`` over stdio until the client closes the connection."""
    if not (root / "specs").is_dir() and not (root / "config" / "orch.yaml").is_file():
        print(  # stderr: stdout carries the protocol
            f"orch mcp: warning: {root} holds no specs/ or config/orch.yaml; "
            "set ORCH_ROOT or --root to the control repo",
            file=sys.stderr,
        )
    build_server(root).run("stdio")
