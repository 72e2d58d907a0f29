"""The markdown status report: data in, text out (pure).

Deterministic by construction: times are UTC timestamps to the minute, never
ages; workers and events come in a fixed order; only the "Generated" line
carries the time of rendering. An unchanged fleet therefore renders the same
bytes and makes no commit.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from reconciler.core.actions import Phase
from reconciler.core.rows import restarts_text, stage_text

RECENT_EVENTS = 20
RECENT_BACKUPS = 10
_TEARDOWN = ("remove-worktree", "kill-window", "forget")  # a worker's run ends with any of them
GENERATED_PREFIX = "Generated "


@dataclass(frozen=True)
class ReportInput:
    """Everything a report shows, gathered by the caller."""

    rows: Sequence[Mapping[str, Any]]  # reconciler.core.rows.status_rows
    events: Sequence[Mapping[str, Any]]  # state/events.jsonl, oldest first
    revision: tuple[str, str] | None
    dirty: bool
    host: str | None
    generated: float
    ahead: Mapping[str, int | None]
    log_tails: Mapping[str, str]


def _usd(value: object) -> str:
    """``$1.23``, or ``-`` when the agent reported no cost."""
    return f"${value:.2f}" if isinstance(value, int | float) else "-"


def minute(iso: str | None) -> str | None:
    """``2026-11-27T00:15:42Z`` -> ``2026-11-27T00:15``.

    Examples
    --------
    >>> minute("2026-11-27T00:15:42Z")
    '2026-11-27T00:15'
    """
    return iso[:16] if iso else None


def _gantt(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    spans: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        worker, stage = e.get("worker"), e.get("stage")
        if not worker or not e.get("time"):
            continue
        stages = spans.setdefault(worker, [])
        if e.get("verb") == "start-agent" and stage and e.get("ok", True):
            if stages and stages[-1]["stage"] == stage:
                stages[-1]["attempts"] += 1
                continue
            if stages and stages[-1]["status"] == "active":
                stages[-1].update(status="done", end=e["time"])
            stages.append(
                {
                    "stage": stage,
                    "attempts": 1,
                    "status": "active",
                    "start": e["time"],
                    "end": e["time"],
                }
            )
        elif e.get("verb") in _TEARDOWN and stages and stages[-1]["status"] == "active":
            stages[-1].update(status="done", end=e["time"])  # removed: its bar ends here
        elif str(e.get("verb", "")).startswith("phase ") and stages:
            final = e["verb"].removeprefix("phase ")
            if final in (Phase.SUCCEEDED.value, Phase.FAILED.value):
                status = "done" if final == Phase.SUCCEEDED.value else "crit"
                stages[-1].update(status=status, end=e["time"])
    out = []
    for worker in sorted(spans):
        stages = [_span(s) for s in spans[worker]]
        if stages:
            out.append({"worker": worker, "stages": stages})
    return out


def _span(s: dict[str, Any]) -> dict[str, Any]:
    start, end = minute(s["start"]) or "", minute(s["end"]) or ""
    if end <= start:  # mermaid needs a positive length: at least one minute
        import calendar  # only a zero-length span needs it: `orch status` never imports it

        ts = calendar.timegm(time.strptime(start, "%Y-%m-%dT%H:%M")) + 60
        end = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(ts))
    return {**s, "start": start, "end": end}


def recent_backups(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The backup refs teardowns wrote, newest first (``orch backups restore`` takes them).

    Examples
    --------
    >>> recent_backups([{"time": "2026-12-01T10:15:00Z", "worker": "w1",
    ...                  "verb": "remove-worktree", "detail": {"backup": "refs/x"}}])
    [{'time': '2026-12-01T10:15', 'worker': 'w1', 'ref': 'refs/x'}]
    """
    found = [
        {"time": minute(e.get("time")), "worker": e.get("worker"), "ref": e["detail"]["backup"]}
        for e in events
        if isinstance(e.get("detail"), Mapping) and isinstance(e["detail"].get("backup"), str)
    ]
    return found[::-1][:RECENT_BACKUPS]


def report_context(src: ReportInput) -> dict[str, Any]:
    """The names a report template sees."""
    counts = Counter(str(r["phase"]) for r in src.rows)
    order = [p.value for p in Phase]
    workers = [
        {**r, "stage_text": stage_text(r), "activity": minute(r.get("lastActivity")),
         "restarts_text": restarts_text(r),
         "ahead": src.ahead.get(str(r["name"])), "cost": _usd(r.get("costUsd")),
         "run_report": f"workers/{r['name']}.md"}
        for r in src.rows
    ]  # fmt: skip
    failures = [
        {
            "name": r["name"],
            "reason": r["reason"],
            "log_tail": src.log_tails.get(str(r["name"]), ""),
        }
        for r in src.rows
        if r["phase"] == Phase.FAILED.value
    ]
    events = [{**e, "time": minute(e.get("time"))} for e in src.events[-RECENT_EVENTS:]]
    sha, subject = src.revision or ("none", "no commit touches specs/ or config/ yet")
    return {
        "host": src.host,
        "generated": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(src.generated)),
        "revision": {"sha": sha, "subject": subject},
        "dirty": src.dirty,
        "counts": sorted(
            counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
        ),
        "workers": workers,
        "failures": failures,
        "events": events,
        "backups": recent_backups(src.events),
        "gantt": _gantt(src.events),
    }


@cache
def environment() -> Any:
    """The jinja2 sandbox that renders reports (an undefined name renders empty)."""
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=True, trim_blocks=False)


def render_report(template: str, src: ReportInput) -> str:
    """Render ``template`` (jinja2, sandboxed) over ``src``."""
    return str(environment().from_string(template).render(**report_context(src)))


def sample_input() -> ReportInput:
    """A report's input with nothing in it: what `validate` renders a report template over."""
    return ReportInput(rows=(), events=(), revision=None, dirty=False, host="host",
                       generated=0.0, ahead={}, log_tails={})  # fmt: skip


def without_generated(text: str) -> str:
    """The report minus its "Generated" line: what decides whether anything changed."""
    return "\n".join(line for line in text.splitlines() if not line.startswith(GENERATED_PREFIX))


def commit_message(rows: Sequence[Mapping[str, Any]]) -> str:
    """``orch: status: 3 running, 1 failed``.

    Examples
    --------
    >>> commit_message([{"phase": "Running"}, {"phase": "Failed"}, {"phase": "Running"}])
    'orch: status: 2 running, 1 failed'
    """
    counts = Counter(str(r["phase"]) for r in rows)
    order = [p.value for p in Phase]
    parts = [
        f"{n} {phase.lower()}"
        for phase, n in sorted(
            counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
        )
    ]
    return "orch: status: " + (", ".join(parts) if parts else "no workers")
