"""Write the status report and commit it to git (the imperative half of reports).

A report is written only when its content changed (ignoring its "Generated"
line) and committed at most once per reports.minInterval, unless a worker's
phase changed since the last report commit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.model import Desired
from reconciler.core.report import ReportInput, commit_message, render_report, without_generated
from reconciler.core.rows import status_rows
from reconciler.data import packaged
from reconciler.drivers import gitops
from reconciler.loop.engine import PassResult, host_name, revision_info
from reconciler.loop.events import read_events
from reconciler.loop.logs import tail_lines
from reconciler.loop.run_reports import FOLDER, git_facts, write_run_reports
from reconciler.loop.secrets import mask
from reconciler.loop.state_store import write_atomic

TEMPLATE = "reports/templates/status.md.j2"
MEMORY = "report.json"


@dataclass(frozen=True)
class ReportResult:
    """What `orch report` did."""

    path: Path
    changed: bool
    commit: str | None
    note: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "path": str(self.path),
            "changed": self.changed,
            "commit": self.commit,
            "note": self.note,
        }


def report_path(desired: Desired) -> Path:
    """reports.path, with ``{host}`` replaced by this reconciler's host name."""
    return desired.root / desired.config.reports_path.replace("{host}", host_name(desired))


def _template(root: Path) -> str:
    custom = root / TEMPLATE
    if custom.is_file():
        return custom.read_text()
    return packaged(TEMPLATE)


def _ahead(desired: Desired, rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """Commits beyond base a worker: the run reports' git facts (cached by branch tip)."""
    workers = [desired.workers[str(r["name"])] for r in rows if str(r["name"]) in desired.workers]
    facts, _ = git_facts(desired, workers)
    out: dict[str, int | None] = {}
    for w in workers:
        got = facts.get(w.name)
        out[w.name] = got.total if got and got.tip and not got.error else None
    return out


def _log_tails(rows: list[dict[str, Any]], root: Path) -> dict[str, str]:
    from reconciler.core.summary import strip_ansi
    from reconciler.loop.logs import current_log

    tails = {}
    for row in rows:
        if row["phase"] != "Failed":
            continue
        try:
            text = "\n".join(tail_lines(current_log(root, str(row["name"])), 15))
        except Exception:  # noqa: BLE001 - a missing log is not worth failing a report
            text = "(no log)"
        tails[str(row["name"])] = strip_ansi(text).replace("```", "'''")
    return tails


def build(result: PassResult, now: float) -> tuple[str, list[dict[str, Any]]]:
    """Render the report for one observed pass; returns the text and the status rows."""
    desired = result.desired
    rows = status_rows(desired, result.observed, result.plan)
    info = revision_info(desired.root)
    rev = info["revision"]
    revision = (str(rev["sha"]), str(rev["subject"])) if isinstance(rev, dict) else None
    dirty = bool(info["specsDirty"])
    src = ReportInput(
        rows=rows,
        events=read_events(desired.state_dir, 200),
        revision=revision,
        dirty=dirty,
        host=host_name(desired),
        generated=now,
        ahead=_ahead(desired, rows),
        log_tails=_log_tails(rows, desired.root),
    )
    return render_report(_template(desired.root), src), rows


def write_report(
    result: PassResult, *, commit: bool, push: bool, force: bool = False, now: float | None = None
) -> ReportResult:
    """Write the report if it changed; commit (and push) per the rules above."""
    desired = result.desired
    now = time.time() if now is None else now
    text, rows = build(result, now)
    text = mask(text)  # a reason or a log tail may quote a secret
    path = report_path(desired)
    old = path.read_text() if path.exists() else None
    changed = old is None or without_generated(old) != without_generated(text)
    if changed:
        write_atomic(path, text)
    runs = write_run_reports(desired, rows, result.observed.states, path.parent / FOLDER, now)
    changed = changed or bool(runs.written)
    if not commit:
        return ReportResult(path, changed, None, "written" if changed else "unchanged")
    memory_file = desired.state_dir / MEMORY
    memory = _read_json(memory_file)
    phases = {str(r["name"]): str(r["phase"]) for r in rows}
    interval_ok = now - float(memory.get("committed_at", 0)) >= desired.config.reports_min_interval
    if not (force or interval_ok or phases != memory.get("phases")):
        note = "within reports.minInterval; not committed" if changed else "unchanged"
        return ReportResult(path, changed, None, note)
    rel = str(path.relative_to(desired.root))  # only the report files themselves
    folder = path.parent / FOLDER  # a pathspec must match something: only once it has files
    runs_rel = [str(folder.relative_to(desired.root))] if any(folder.glob("*.md")) else []
    sha = gitops.commit_paths(
        desired.root, [rel, *runs_rel], commit_message(rows), desired.config.reports_author
    )
    if sha is None:
        return ReportResult(path, changed, None, "nothing changed under reports/")
    write_atomic(memory_file, json.dumps({"committed_at": now, "phases": phases}))
    note = "committed"
    if push:
        tries = gitops.push(desired.root)
        note += f" and pushed ({tries} tr{'y' if tries == 1 else 'ies'})"
    return ReportResult(path, changed, sha, note)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
