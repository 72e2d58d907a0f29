"""Events: what happened during a pass, as data a CLI, a dashboard or MCP reads."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.duration import utc_iso
from reconciler.loop.logs import tail_lines
from reconciler.loop.secrets import redactor

EVENTS_FILE = "events.jsonl"
ROTATE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Event:
    """One thing orch did (or failed to do) to one worker."""

    ts: float
    worker: str
    verb: str
    reason: str
    ok: bool = True
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    stage: str | None = None
    attempt: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data with an ISO-8601 UTC time."""
        data: dict[str, Any] = {
            "time": utc_iso(self.ts),
            "worker": self.worker,
            "verb": self.verb,
            "reason": self.reason,
            "ok": self.ok,
        }
        if self.stage:
            data["stage"] = self.stage
        if self.attempt:
            data["attempt"] = self.attempt
        if self.error:
            data["error"] = self.error
        if self.detail:
            data["detail"] = self.detail
        return data

    def line(self) -> str:
        """One line for a person: time, worker, what, why."""
        clock = time.strftime("%H:%M:%S", time.localtime(self.ts))
        status = "" if self.ok else f" FAILED: {self.error}"
        extra = "".join(f" {k}={v}" for k, v in self.detail.items())
        where = f" {self.stage}#{self.attempt}" if self.stage and self.attempt else ""
        return f"{clock} {self.worker or '-'} {self.verb}{where}: {self.reason}{extra}{status}"


def append_events(state_dir: Path, events: list[Event]) -> None:
    """Append to state/events.jsonl, rotating it to events.jsonl.1 past 10 MB."""
    if not events:
        return
    path = state_dir / EVENTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.stat().st_size > ROTATE_BYTES:
            path.replace(path.with_name(EVENTS_FILE + ".1"))
    except FileNotFoundError:
        pass
    hide = redactor()
    with path.open("a") as fh:
        for event in events:
            fh.write(json.dumps(hide.data(event.to_json())) + "\n")


def read_events(state_dir: Path, limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` events, oldest first; lines that are not events are skipped."""
    try:
        lines = tail_lines(state_dir / EVENTS_FILE, limit)  # only the end of a large file
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn or foreign line (a crash mid-write, a hand edit)
        if isinstance(event, dict):
            out.append(event)
    return out


def worker_events(state_dir: Path, worker: str) -> list[dict[str, Any]]:
    """Every recorded event of ``worker``, oldest first (the rotated file first)."""
    out = []
    for name in (EVENTS_FILE + ".1", EVENTS_FILE):
        try:
            text = (state_dir / name).read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        for line in text.splitlines():
            if f'"{worker}"' not in line:
                continue  # cheap: most lines are other workers'
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("worker") == worker:
                out.append(event)
    return out
