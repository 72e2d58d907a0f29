"""The watcher's report commits: when (core.report_cadence decides), then render and commit.

After each pass the phases are compared with the last ones seen (urgent
changes: a worker Failed, the fleet settled); the report is rendered only when
the clocks say a commit is due — at most once per reports.minInterval, or
one reports.settle after an urgent change — since rendering reads git for
every worker. What the last commit held, the urgent changes since and the
phases seen last live in state/report.json, so a restarted watcher keeps the
pace. A failed commit or push is tried again after ``RETRY_FAILED`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from reconciler.core.errors import OrchError
from reconciler.core.model import Desired
from reconciler.core.report import without_generated
from reconciler.core.report_cadence import decide, digest, urgent_changes
from reconciler.loop import engine
from reconciler.loop.events import Event
from reconciler.loop.publish_report import (
    publish,
    remember_commit,
    remember_waiting,
    render,
    report_rel,
    run_reports,
    runs_digest,
    write_local,
)
from reconciler.loop.report_memory import read_memory, save_memory

RETRY_FAILED = 60.0  # seconds before a failed report commit is tried again


class ReportTimer:
    """Commits the fleet report after passes, on the cadence of core.report_cadence."""

    def __init__(self, emit: Callable[[Event | str], None]) -> None:
        self.emit = emit
        self.told: str | None = None  # the last waiting/warning line, said once
        self.retry_at = 0.0  # after a failed commit or push: not before then

    def after_pass(self, result: engine.PassResult, now: float) -> float | None:
        """Commit the report when due; returns when to look again (or None).

        The report is rendered only when a commit is due by the clocks (a render
        reads git for every worker): at most once per minInterval or settle window.
        """
        desired = result.desired
        cfg = desired.config
        if not cfg.reports_commit or now < self.retry_at:
            return self.retry_at if cfg.reports_commit else None
        if result.events:  # the pass changed things: report what is now, not what was
            observed = engine.snapshot(desired)
            plan = engine.make_plan(desired, observed)
            result = engine.PassResult(desired, observed, plan, result.events)
        phases = {name: st.phase.value for name, st in result.plan.statuses.items()}
        memory = read_memory(desired)
        urgent = [float(t) for t in memory.get("urgent", [])]
        if urgent_changes(memory.get("phases"), phases):
            urgent.append(now)
        memory.update(phases=phases, urgent=urgent)
        save_memory(desired, memory)
        clocks = partial(
            decide,
            committed_at=memory.get("committed_at"),
            urgent=urgent,
            now=now,
            min_interval=cfg.reports_min_interval,
            settle=cfg.reports_settle,
        )
        decision = clocks(committed=None, content=None)  # by the clocks alone
        if not decision.commit:
            return decision.due
        if cfg.reports_branch is None:  # the work tree's files change only with a commit
            text, rows = render(result, now)
            runs, _ = run_reports(result, rows, now, write=False)
        else:
            _, _, text, rows, runs = write_local(result, now)
        content = f"{digest(without_generated(text))}:{runs_digest(runs)}"
        committed = f"{memory.get('digest')}:{memory.get('runs')}"
        if not clocks(committed=committed, content=content).commit:
            remember_commit(desired, text, rows, runs, now)  # current as of now
            return None
        return self._commit(desired, text, rows, runs, now)

    def _commit(
        self,
        desired: Desired,
        text: str,
        rows: list[dict[str, Any]],
        runs: dict[str, str],
        now: float,
    ) -> float | None:
        try:
            sha, note = publish(desired, text, rows, runs, push=desired.config.reports_push)
        except OrchError as err:
            self._once(f"warning: report: {err}; trying again in {RETRY_FAILED:.0f}s")
            self.retry_at = now + RETRY_FAILED
            return self.retry_at
        if note.startswith("waiting"):
            remember_waiting(desired, note)
            self._once(f"report {note}")
            return None  # tried again after the next pass
        remember_commit(desired, text, rows, runs, now)
        self.told = None
        if sha:
            self.emit(f"report {report_rel(desired)}: {note} ({sha[:10]})")
        return None

    def _once(self, line: str) -> None:
        if line != self.told:
            self.emit(line)
        self.told = line
