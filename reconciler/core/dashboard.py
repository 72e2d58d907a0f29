"""One frame of `orch dashboard`, from status rows (pure: data in, a rich renderable out).

The rows are :func:`reconciler.core.rows.status_rows`, the same `orch status`
prints; the frame adds what only a live view has: how much each log grew at
each refresh (a sparkline), the last line each agent wrote, and the newest
events. Workers that need a person come first; when they do not all fit in
the terminal, the rest are summarised in one line by phase.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from reconciler.core.duration import format_age, iso_age
from reconciler.core.rows import stage_text

# Shown first, in this order: what needs a person, then what is stuck or waiting.
PRIORITY = (
    "NeedsInput",
    "TakenOver",
    "Failed",
    "Limited",
    "Paused",
    "Backoff",
    "Blocked",
    "Terminating",
    "Provisioning",
    "Running",
    "Queued",
    "Waiting",
    "Pending",
    "Suspended",
    "Succeeded",
)
PHASE_STYLE = {
    "NeedsInput": "bold magenta",
    "TakenOver": "magenta",
    "Failed": "bold red",
    "Limited": "bold yellow",
    "Paused": "yellow",
    "Backoff": "yellow",
    "Blocked": "yellow",
    "Terminating": "dim",
    "Provisioning": "cyan",
    "Running": "green",
    "Suspended": "dim",
    "Succeeded": "blue",
}
SPARK = "▁▂▃▄▅▆▇█"
HEADER_LINES = 3  # title, counts, a possible error line
EVENT_LINES = 6  # newest events shown, when the terminal has room for them


@dataclass(frozen=True)
class Frame:
    """Everything one refresh shows.

    ``growth``: bytes each worker's log grew at each of the last refreshes,
    oldest first. ``error``: why this frame's rows may be stale (specs invalid,
    tmux not answering); the last good rows are shown under it.
    """

    rows: Sequence[Mapping[str, Any]]
    now: float
    fleet: str = ""
    last_lines: Mapping[str, str] = field(default_factory=dict)
    growth: Mapping[str, Sequence[int]] = field(default_factory=dict)
    events: Sequence[Mapping[str, Any]] = ()
    revision: Mapping[str, Any] | None = None
    specs_dirty: bool = False
    last_pass: float | None = None
    watcher: str | None = None
    error: str | None = None
    width: int = 120
    height: int = 40


def phase_rank(phase: str) -> int:
    """Where a phase sorts: NeedsInput, Failed and Limited first; unknown phases last.

    Examples
    --------
    >>> phase_rank("Failed") < phase_rank("Running") < phase_rank("Succeeded")
    True
    """
    return PRIORITY.index(phase) if phase in PRIORITY else len(PRIORITY)


def sort_rows(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows by phase priority, then name."""
    return sorted(rows, key=lambda r: (phase_rank(str(r["phase"])), str(r["name"])))


def sparkline(values: Sequence[int], width: int = 10) -> str:
    """The last ``width`` values as bars; no growth is the lowest bar.

    Examples
    --------
    >>> sparkline([0, 10, 5, 0], width=4)
    '▁█▅▁'
    >>> sparkline([], width=3)
    '   '
    """
    recent = list(values)[-width:]
    top = max(recent, default=0)
    bars = [SPARK[0] if v <= 0 or top <= 0 else SPARK[max(1, round(v / top * 7))] for v in recent]
    return "".join(bars).rjust(width)


def phase_counts(rows: Sequence[Mapping[str, Any]]) -> str:
    """``5 workers: 1 Failed, 4 Running`` in priority order.

    Examples
    --------
    >>> phase_counts([{"phase": "Running"}, {"phase": "Failed"}, {"phase": "Running"}])
    '3 workers: 1 Failed, 2 Running'
    >>> phase_counts([])
    'no workers'
    """
    if not rows:
        return "no workers"
    counts = Counter(str(r["phase"]) for r in rows)
    parts = [f"{counts[p]} {p}" for p in sorted(counts, key=lambda p: (phase_rank(p), p))]
    return f"{len(rows)} workers: {', '.join(parts)}"


def fit_rows(
    rows: Sequence[Mapping[str, Any]], room: int
) -> tuple[list[Mapping[str, Any]], str | None]:
    """The rows that fit in ``room`` lines, most urgent first, and a summary of the rest.

    Examples
    --------
    >>> rows = [{"name": n, "phase": p} for n, p in [("a", "Running"), ("b", "Failed"),
    ...                                               ("c", "Running"), ("d", "Succeeded")]]
    >>> shown, more = fit_rows(rows, 3)
    >>> [r["name"] for r in shown], more
    (['b', 'a'], '... 2 more: 1 Running, 1 Succeeded')
    """
    ordered = sort_rows(rows)
    if len(ordered) <= room:
        return ordered, None
    shown = ordered[: max(room - 1, 0)]
    rest = ordered[len(shown) :]
    return shown, f"... {len(rest)} more: {phase_counts(rest).split(': ', 1)[1]}"


def _header(frame: Frame) -> list[Text]:
    title = Text.assemble(("orch dashboard", "bold"), f"  {frame.fleet}")
    ago = format_age(frame.now - frame.last_pass) if frame.last_pass is not None else None
    title.append(f"  last pass {ago} ago" if ago else "  no pass yet")
    title.append(f"  watcher {frame.watcher}" if frame.watcher else "  no watcher running")
    if frame.revision:
        dirty = " (edited, not committed)" if frame.specs_dirty else ""
        title.append(f"  specs {frame.revision.get('sha', '?')}{dirty}")
    title.no_wrap, title.overflow = True, "ellipsis"
    lines = [title, Text(phase_counts(frame.rows))]
    if frame.error:
        lines.append(Text(f"! {frame.error}", style="bold red"))
    return lines


# (header, widest it may get, right-aligned); LAST LINE takes what is left of the width.
COLUMNS = (
    ("NAME", 28, False),
    ("PHASE", 12, False),
    ("STAGE", 20, False),
    ("ATT", 4, True),
    ("RST", 4, True),
    ("ACTIVE", 6, True),
    ("LOG", 10, False),
    ("COST", 9, True),
)


def _cells(frame: Frame, r: Mapping[str, Any]) -> list[str]:
    name, cost = str(r["name"]), r.get("costUsd")
    return [
        name,
        str(r["phase"]),
        stage_text(r),
        str(r.get("attempt") or "-"),
        str(r.get("restarts") or 0),
        format_age(iso_age(r.get("lastActivity"), frame.now)),
        sparkline(frame.growth.get(name, ())),
        "-" if cost is None else f"${cost:.2f}",
    ]


def _fit(text: str, width: int, right: bool) -> str:
    """``text`` in exactly ``width`` columns: cut with an ellipsis, padded."""
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)


def _table(frame: Frame, rows: Sequence[Mapping[str, Any]]) -> list[Text]:
    """A header line and one line a row, in columns fitted to their content.

    Plain lines, not a rich Table: laying out a table of 100 rows each second
    costs more than observing the fleet does.
    """
    cells = [_cells(frame, r) for r in rows]
    widths = [
        min(cap, max(len(head), *(len(c[i]) for c in cells)))
        for i, (head, cap, _) in enumerate(COLUMNS)
    ]
    header = Text(style="bold", no_wrap=True, overflow="ellipsis")
    for (head, _, right), width in zip(COLUMNS, widths, strict=True):
        header.append(_fit(head, width, right) + "  ")
    header.append("LAST LINE")
    lines = [header]
    for r, row_cells in zip(rows, cells, strict=True):
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, ((_, _, right), width) in enumerate(zip(COLUMNS, widths, strict=True)):
            style = PHASE_STYLE.get(row_cells[1], "") if i == 1 else "cyan" if i == 6 else ""
            line.append(_fit(row_cells[i], width, right), style=style)
            line.append("  ")
        line.append(frame.last_lines.get(str(r["name"]), ""), style="dim")
        lines.append(line)
    for line in lines:
        line.truncate(frame.width, overflow="ellipsis")
    return lines


def event_line(event: Mapping[str, Any]) -> Text:
    """``12:03:04 w1 start-agent build#2: reason``, red when it failed.

    Examples
    --------
    >>> event_line({"time": "2026-01-02T12:03:04Z", "worker": "w1", "verb": "start-agent",
    ...             "stage": "build", "attempt": 2, "reason": "new worker"}).plain
    '12:03:04 w1 start-agent build#2: new worker'
    """
    clock = str(event.get("time", ""))[11:19] or "--:--:--"
    where = f" {event['stage']}#{event['attempt']}" if event.get("stage") else ""
    text = f"{clock} {event.get('worker') or '-'} {event.get('verb', '?')}{where}: "
    text += str(event.get("reason", ""))
    if event.get("ok") is False:
        return Text(f"{text} FAILED: {event.get('error', '')}", style="red")
    return Text(text)


def render(frame: Frame) -> RenderableType:
    """The whole frame, fitted to ``frame.height`` lines."""
    header = _header(frame)
    events = list(frame.events)[-min(EVENT_LINES, max(frame.height // 4, 1)) :]
    room = frame.height - len(header) - 1 - (len(events) + 1 if events else 0)
    shown, more = fit_rows(frame.rows, max(room, 1))
    parts: list[RenderableType] = [*header, *(_table(frame, shown) if shown else [])]
    if more:
        parts.append(Text(more, style="dim"))
    if events:
        parts.append(Text("events", style="bold"))
        parts.extend(event_line(e) for e in events)
    return Group(*parts)


def render_text(frame: Frame) -> str:
    """The frame as plain text at ``frame.width`` columns (`orch dashboard --once`, tests)."""
    out = io.StringIO()
    Console(width=frame.width, color_system=None, file=out).print(render(frame))
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())
