"""The watcher's report commits: when (core.report_cadence decides), then write and commit.

After each pass the report is rendered and written when it changed; it is
committed at most once per reports.minInterval, or one reports.settle after
a worker became Failed or the fleet settled. What the last commit held, the
urgent changes since and the phases seen last live in state/report.json, so a
restarted watcher keeps the cadence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.core.errors import OrchError
from reconciler.core.model import Desired
from reconciler.core.report import without_generated
from reconciler.core.report_cadence import decide, digest, urgent_changes
from reconciler.loop import engine
from reconciler.loop.events import Event
from reconciler.loop.publish_report import (
    publish,
    read_memory,
    remember_commit,
    remember_waiting,
    render,
    report_rel,
    save_memory,
    write_local,
)

RETRY_FAILED = 60.0  # seconds before a failed report commit is tried again


class ReportTimer:
    """Commits the fleet report after passes, on the cadence of core.report_cadence."""

    def __init__(self, emit: Callable[[Event | str], None]) -> None:
        self.emit = emit
        self.told: str | None = None  # the last waiting/warning line, said once

    def after_pass(self, result: engine.PassResult, now: float) -> float | None:
        """Write the report, commit it when due; returns when to look again (or None)."""
        desired = result.desired
        cfg = desired.config
        if not cfg.reports_commit:
            return None
        if result.events:  # the pass changed things: report what is now, not what was
            observed = engine.snapshot(desired)
            plan = engine.make_plan(desired, observed)
            result = engine.PassResult(desired, observed, plan, result.events)
        if cfg.reports_branch is None:  # the work tree's file changes only with a commit
            text, rows = render(result, now)
        else:
            _, _, text, rows = write_local(result, now)
        phases = {str(r["name"]): str(r["phase"]) for r in rows}
        memory = read_memory(desired)
        urgent = [float(t) for t in memory.get("urgent", [])]
        if urgent_changes(memory.get("phases"), phases):
            urgent.append(now)
        memory.update(phases=phases, urgent=urgent)
        content = digest(without_generated(text))
        decision = decide(
            committed_at=memory.get("committed_at"),
            committed=memory.get("digest"),
            content=content,
            urgent=urgent,
            now=now,
            min_interval=cfg.reports_min_interval,
            settle=cfg.reports_settle,
        )
        save_memory(desired, memory)
        if not decision.commit:
            return decision.due
        return self._commit(desired, text, rows, now)

    def _commit(
        self, desired: Desired, text: str, rows: list[dict[str, Any]], now: float
    ) -> float | None:
        try:
            sha, note = publish(desired, text, rows, push=desired.config.reports_push)
        except OrchError as err:
            self._once(f"warning: report: {err}")
            return now + RETRY_FAILED
        if note.startswith("waiting"):
            remember_waiting(desired, note)
            self._once(f"report {note}")
            return None  # tried again after the next pass
        remember_commit(desired, text, rows, now, made=sha is not None)
        self.told = None
        if sha:
            self.emit(f"report {report_rel(desired)}: {note} ({sha[:10]})")
        return None

    def _once(self, line: str) -> None:
        if line != self.told:
            self.emit(line)
        self.told = line
