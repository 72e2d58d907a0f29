"""What the faces of orch show: fleet status, the plan, one worker, the report.

`orch status`, `orch plan`, `orch report` and the MCP server's tools call these,
so a person at the terminal and a model over MCP see the same thing. They read
(``report`` writes reports/ only) and never take the reconciler's lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core.actions import Plan
from reconciler.core.errors import UsageError
from reconciler.loop import engine

if TYPE_CHECKING:
    from reconciler.loop.publish_report import ReportResult


def fleet_status(root: Path) -> dict[str, Any]:
    """`orch status --json`: ``workers`` (status rows), ``foreign`` windows, revision, warnings,
    the reconciler, and ``specsError`` (the rows of the last valid specs when they are invalid)."""
    from reconciler.loop.status_view import status_view

    return status_view(root).to_json()


def current_plan(root: Path, *, allow_mass_prune: bool = False) -> Plan:
    """What `orch reconcile` would do now (`orch plan`)."""
    desired = engine.load(root)
    return engine.make_plan(desired, engine.snapshot(desired), allow_mass_prune=allow_mass_prune)


def worker_detail(root: Path, name: str, lines: int) -> dict[str, Any]:
    """One worker's status row and the last ``lines`` lines of its current log.

    Raises UsageError naming the known workers when ``name`` is not one of them.
    """
    from reconciler.loop.logs import current_log, tail_lines

    status = fleet_status(root)
    rows = {str(r["name"]): r for r in status["workers"]}
    if name not in rows:
        known = ", ".join(sorted(rows)) or "none"
        msg = f'no worker "{name}" in this fleet (workers: {known})'
        raise UsageError(msg)
    try:
        tail = tail_lines(current_log(root, name), lines)
    except (UsageError, OSError):
        tail = []
    return {"worker": rows[name], "log": tail}


def report(root: Path, *, commit: bool, push: bool = False) -> ReportResult:
    """Render reports/status.md now (`orch report`); commit and push as asked."""
    from reconciler.loop.publish_report import write_report  # jinja2: only when reporting

    desired = engine.load(root, require_env=False)
    observed = engine.snapshot(desired)
    result = engine.PassResult(desired, observed, engine.make_plan(desired, observed), ())
    return write_report(result, commit=commit or push, push=push)
