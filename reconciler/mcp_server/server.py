"""The MCP server of one control repo: every tool and resource registered here, served on stdio."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcp.server.mcpserver import MCPServer

from reconciler import __version__
from reconciler.mcp_server import resources
from reconciler.mcp_server.control_tools import CONTROL_TOOLS, ControlTools, end_runs
from reconciler.mcp_server.tools import TOOLS, FleetTools

RUNS_END_WAIT = 5.0  # seconds a stopping server waits for killed workflow commands to be gone
INSTRUCTIONS = """\
orch keeps a fleet of AI coding-agent workers equal to the YAML specs of a git
control repo. Start with fleet_status; worker_status shows one worker and its
log. plan says what a reconcile would do; restart_worker, suspend_worker and
resume_worker act as the orch CLI does (suspend and resume commit the spec
file, so git stays the source of truth). repos is the table of the Repos
(branch, changes, upstream, last commit); run_workflow runs a Repo's workflow
command (spec.workflows, e.g. test) and returns each result with its log's
tail. task_list, task_add, task_start and task_done read and edit
tasks/backlog.md, active.md and completed.md (ids T-<n>; not committed). Read
the report, tasks and playbooks as resources.
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
    for tools, names in ((FleetTools(root), TOOLS), (ControlTools(root), CONTROL_TOOLS)):
        for name in names:
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
    with _ending_runs_on_signals():
        build_server(root).run("stdio")


@contextmanager
def _ending_runs_on_signals() -> Iterator[None]:
    """SIGTERM, SIGHUP and Ctrl-C end the workflow runs in progress, then the server as before.

    An MCP client closes stdin and then signals the server's process group;
    the workflow commands run in sessions of their own and would outlive it.
    The signal is then delivered again with its default action: the server
    ends at once, as it did before it handled them.
    """

    def stop(signum: int, frame: object) -> None:
        end_runs(wait=RUNS_END_WAIT)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    saved = {sig: signal.signal(sig, stop) for sig in signals}
    try:
        yield
    finally:
        end_runs(wait=RUNS_END_WAIT)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
