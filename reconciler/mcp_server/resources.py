"""The MCP resources: the status report, the task files and the playbooks of the control repo.

Files that exist when the server starts are listed one by one; files added
later are read through the templates ``orch://tasks/{+path}`` and
``orch://playbooks/{+path}``. Only files inside those folders are served.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.mcpserver.resources import FunctionResource

from reconciler.core.errors import OrchError

REPORT_URI = "orch://reports/status"
# folder -> what its files are, for the resource descriptions
FOLDERS = {
    "tasks": "A task file of the control repo (tasks/*.md).",
    "playbooks": "A playbook of the control repo: prompts and notes the workers follow.",
}


def register(server: MCPServer, root: Path) -> None:
    """Add the report, every task file and playbook, and the two templates to ``server``."""

    @server.resource(
        REPORT_URI,
        name="status-report",
        mime_type="text/markdown",
        description="The fleet's status report (reports.path; render it with render_report).",
    )
    def status_report() -> str:
        return read_report(root)

    for folder, about in FOLDERS.items():
        for path in markdown_files(root / folder):
            rel = path.relative_to(root / folder).as_posix()
            server.add_resource(
                FunctionResource(
                    uri=f"orch://{folder}/{rel}",
                    name=f"{folder}/{rel}",
                    description=about,
                    mime_type="text/markdown",
                    fn=_reader(root, folder, rel),
                )
            )
        server.resource(
            f"orch://{folder}/{{+path}}",
            name=folder,
            mime_type="text/markdown",
            description=f"{about} Any file under {folder}/ by its path there.",
        )(_template_reader(root, folder))


def markdown_files(folder: Path) -> list[Path]:
    """The markdown files (``.md``, ``.md.j2``) under ``folder``, sorted; none if it is absent."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".md" in p.name)


def read_file(root: Path, folder: str, rel: str) -> str:
    """The text of ``root/folder/rel``; not found unless it is a file inside that folder."""
    base = (root / folder).resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        msg = f"no file {folder}/{rel} in the control repo {root}"
        raise ResourceNotFoundError(msg)
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        msg = f"cannot read {folder}/{rel}: {err.strerror}"
        raise ResourceError(msg) from None


def read_report(root: Path) -> str:
    """The status report at reports.path (reports/status.md when the specs do not load)."""
    from reconciler.loop import engine
    from reconciler.loop.publish_report import report_path

    try:
        path = report_path(engine.load(root, require_env=False))
    except OrchError:
        path = root / "reports" / "status.md"
    if not path.is_file():
        msg = f"no report at {path} yet; call the render_report tool first"
        raise ResourceNotFoundError(msg)
    return path.read_text(encoding="utf-8", errors="replace")


def _reader(root: Path, folder: str, rel: str) -> Callable[[], str]:
    return lambda: read_file(root, folder, rel)


def _template_reader(root: Path, folder: str) -> Callable[[str], str]:
    def read(path: str) -> str:
        return read_file(root, folder, path)

    read.__name__ = f"read_{folder}"
    return read
