"""A worker's run report: stages, restarts, cost, commits, changes, PR (pure).

Built from the worker's events (state/events.jsonl: every start-agent with
its stage, attempt and reason, every phase change), its state (costs per
attempt, the pull request) and git facts gathered by the caller. Like the
fleet report it is deterministic: times are UTC to the minute, a running stage
has no end yet, and only the "Generated" line carries the time of rendering.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from reconciler.core.duration import format_age, utc_seconds
from reconciler.core.report import minute
from reconciler.core.rows import stage_text

_WAIT = re.compile(r"; restart in [0-9.]+s(?=;|$)")  # the Backoff note, said again by the start
MAX_COMMITS = 50  # listed in the report; the count says how many there are in all
_FINAL = {"phase Succeeded": "done", "phase Failed": "failed", "remove-worktree": "removed",
          "kill-window": "removed"}  # fmt: skip


@dataclass(frozen=True)
class GitFacts:
    """What git says of a worker's branch: commits since base (newest first, the first
    ``MAX_COMMITS`` of ``count``), diff --stat."""

    tip: str | None = None
    commits: tuple[str, ...] = ()
    diff_stat: str = ""
    count: int | None = None  # None: as many as listed
    error: str = ""  # git could not tell (a base that does not resolve)

    @property
    def total(self) -> int:
        """How many commits the branch has beyond its base."""
        return len(self.commits) if self.count is None else self.count


@dataclass(frozen=True)
class RunInput:
    """Everything one worker's run report shows, gathered by the caller."""

    row: Mapping[str, Any]  # reconciler.core.rows.status_rows
    events: Sequence[Mapping[str, Any]]  # this worker's events, oldest first
    costs: Mapping[str, float]  # "stage#attempt" -> USD
    git: GitFacts
    generated: float
    summary: str = ""  # the last stage signal's summary
    base: str = ""
    fleet_report: str = "../status.md"  # the fleet report, relative to the run report
    extra: Mapping[str, Any] = field(default_factory=dict)


def _ts(iso: str) -> float:
    seconds = utc_seconds(iso)
    if seconds is None:
        msg = f"not a UTC time: {iso!r}"
        raise ValueError(msg)
    return seconds


Spans = list[dict[str, Any]]


def stage_spans(events: Sequence[Mapping[str, Any]]) -> tuple[Spans, Spans]:
    """Stages run (start, end, attempts, result) and restarts (time, stage, attempt, reason).

    A stage starts at its first start-agent and ends at the next stage's start,
    its complete-stage, or the worker's Succeeded/Failed; any later start of
    the same stage is a restart, with the reason orch gave for it.

    Examples
    --------
    >>> evs = [
    ...     {"time": "2026-01-01T00:00:00Z", "verb": "start-agent", "stage": "a", "attempt": 1},
    ...     {"time": "2026-01-01T00:01:00Z", "verb": "start-agent", "stage": "a", "attempt": 2,
    ...      "reason": "crashed: exit 3; restart 1/3"},
    ...     {"time": "2026-01-01T00:03:30Z", "verb": "phase Succeeded"}]
    >>> spans, restarts = stage_spans(evs)
    >>> [(s["stage"], s["attempts"], s["duration"], s["result"]) for s in spans]
    [('a', 2, '3m', 'done')]
    >>> restarts[0]["reason"]
    'crashed: exit 3; restart 1/3'
    """
    spans: list[dict[str, Any]] = []
    restarts: list[dict[str, Any]] = []
    for e in events:
        verb, at, stage = str(e.get("verb", "")), e.get("time"), e.get("stage")
        if not at or not e.get("ok", True):
            continue
        last = spans[-1] if spans else None
        if verb == "start-agent" and stage:
            if last and last["stage"] == stage and last["end"] is None:
                last["attempts"] = max(last["attempts"] + 1, int(e.get("attempt") or 0))
                restarts.append({"time": minute(at), "stage": stage, "attempt": e.get("attempt"),
                                 "reason": _WAIT.sub("", str(e.get("reason", "")))})  # fmt: skip
                continue
            if last and last["end"] is None:
                last.update(end=at, result="done")
            spans.append({"stage": stage, "start": at, "end": None, "attempts": 1,
                          "result": "running"})  # fmt: skip
        elif verb == "complete-stage" and last and last["stage"] == stage and last["end"] is None:
            last.update(end=at, result="done")
        elif verb in _FINAL and last and last["end"] is None:
            last.update(end=at, result=_FINAL[verb])
    return [_finish(s) for s in spans], restarts


def _finish(span: dict[str, Any]) -> dict[str, Any]:
    end = span["end"]
    duration = format_age(_ts(end) - _ts(span["start"])) if end else "-"
    return {**span, "start": minute(span["start"]), "end": minute(end) or "-",
            "duration": duration}  # fmt: skip


def _stage_cost(costs: Mapping[str, float], stage: str) -> float | None:
    found = [usd for key, usd in costs.items() if key.rpartition("#")[0] == stage]
    return sum(found) if found else None


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.2f}"


def run_context(src: RunInput) -> dict[str, Any]:
    """The names a run report template sees."""
    spans, restarts = stage_spans(src.events)
    for span in spans:
        span["cost"] = _usd(_stage_cost(src.costs, span["stage"]))
    row = src.row
    return {
        **src.extra,
        "worker": {**row, "stage_text": stage_text(row), "cost": _usd(row.get("costUsd"))},
        "base": src.base,
        "generated": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(src.generated)),
        "stages": spans,
        "restarts": restarts,
        "commits": list(src.git.commits[:MAX_COMMITS]),
        "commits_total": src.git.total,
        "diff_stat": f"(git could not tell: {src.git.error})"
        if src.git.error
        else src.git.diff_stat,
        "summary": src.summary.replace("```", "'''"),
        "pr_url": row.get("pullRequest") or None,
        "fleet_report": src.fleet_report,
    }


@lru_cache(maxsize=8)
def _compiled(template: str) -> Any:
    """One compile per template text: a fleet's reports share it."""
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    return env.from_string(template)


def render_run_report(template: str, src: RunInput) -> str:
    """Render ``template`` (jinja2, sandboxed) over ``src``."""
    return str(_compiled(template).render(**run_context(src)))
