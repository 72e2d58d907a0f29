"""What new output says: how far each log and hook journal was read, and what it held.

The tracker remembers, in state/activity.json, the offset read in each
worker's run log and hook journal, so a pass reads only what was written
since. New log lines that match none of the Agent's quietPatterns are
progress (an API retry is not); a claude worker's stream-json and hook
events are folded into facts (:mod:`reconciler.core.claude_stream`,
:mod:`reconciler.core.hooks`) kept with the offsets. Each agent's CPU
bookkeeping (:mod:`reconciler.core.cpu_activity`) is kept there too.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from reconciler.core import claude_stream, cpu_activity, hooks
from reconciler.loop.state_store import write_atomic

MAX_SCAN_BYTES = 1024 * 1024  # of new output per pass and file


def _read(path: Path, start: int, end: int) -> bytes:
    start = max(start, end - MAX_SCAN_BYTES)
    with path.open("rb") as fh:
        fh.seek(start)
        return fh.read(end - start)


def _complete_lines(data: bytes) -> tuple[list[str], int]:
    """The whole lines of ``data`` and how many bytes they take (a partial last line waits)."""
    cut = data.rfind(b"\n") + 1
    text = data[:cut].decode("utf-8", "replace")
    return [line.rstrip("\r") for line in text.split("\n") if line], cut


class ActivityTracker:
    """Remembers how far each run log and hook journal was read, and what it said."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, Any]] = {}
        self.dirty = False
        try:
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict):
                self.data = loaded
        except (OSError, ValueError):
            pass

    def _entry(self, key: str, path: Path, size: int, **same: object) -> dict[str, Any]:
        entry: Any = self.data.get(key)
        fresh: dict[str, Any] = {"log": str(path), "offset": 0, "progress": None, **same}
        if not isinstance(entry, dict) or entry.get("log") != str(path):
            return fresh
        if any(entry.get(k) != v for k, v in same.items()):
            return fresh
        if not isinstance(entry.get("offset"), int) or size < entry["offset"]:
            return fresh  # an unreadable entry, or the file was started again
        return entry

    def log_activity(
        self,
        name: str,
        log: Path | None,
        quiet: tuple[str, ...],
        st: os.stat_result | None,
        stream: bool = False,
    ) -> tuple[float | None, dict[str, Any] | None]:
        """The last time ``log`` grew with a line that is not quiet; its stream-json facts."""
        if log is None or st is None:
            return None, None
        entry = self._entry(name, log, st.st_size)
        if st.st_size > entry["offset"]:
            lines, used = _complete_lines(_read(log, entry["offset"], st.st_size))
            patterns = [re.compile(p) for p in quiet]
            if any(line.strip() and not any(p.search(line) for p in patterns) for line in lines):
                entry["progress"] = st.st_mtime
            if stream:
                entry["stream"] = claude_stream.fold(dict(entry.get("stream") or {}), lines)
            entry["offset"] += used
            self.data[name] = entry
            self.dirty = True
        progress = entry.get("progress")
        facts = entry.get("stream") if stream else None
        return (float(progress) if isinstance(progress, int | float) else None), (
            dict(facts) if isinstance(facts, dict) else ({} if stream else None)
        )

    def hook_facts(self, name: str, journal: Path, stage: str, attempt: int) -> dict[str, Any]:
        """The hook events of ``stage``'s ``attempt`` in ``journal``, folded."""
        try:
            size = journal.stat().st_size
        except OSError:
            return {}
        key = f"{name}#hooks"
        entry = self._entry(key, journal, size, stage=stage, attempt=attempt)
        if size > entry["offset"]:
            lines, used = _complete_lines(_read(journal, entry["offset"], size))
            entry["facts"] = hooks.fold(dict(entry.get("facts") or {}), lines, stage, attempt)
            entry["offset"] += used
            self.data[key] = entry
            self.dirty = True
        facts = entry.get("facts")
        return dict(facts) if isinstance(facts, dict) else {}

    def cpu_mark(self, name: str) -> cpu_activity.CpuMark | None:
        """``name``'s CPU bookkeeping as the last pass left it."""
        return cpu_activity.from_json(self.data.get(f"{name}#cpu"))

    def set_cpu_mark(self, name: str, mark: cpu_activity.CpuMark) -> None:
        """Remember ``mark`` (written by :meth:`save` when it changed)."""
        data = cpu_activity.to_json(mark)
        if self.data.get(f"{name}#cpu") != data:
            self.data[f"{name}#cpu"] = data
            self.dirty = True

    def last_cpu_sweep(self) -> float | None:
        """When a pass last measured the agents' CPU time (None: never)."""
        entry = self.data.get("#cpu-sweep")
        value = entry.get("at") if isinstance(entry, dict) else None
        return float(value) if isinstance(value, int | float) else None

    def set_cpu_sweep(self, now: float) -> None:
        """Remember that a pass measured CPU time at ``now``."""
        self.data["#cpu-sweep"] = {"at": now}
        self.dirty = True

    def save(self) -> None:
        """Write the tracker back when anything changed."""
        if self.dirty:
            write_atomic(self.path, json.dumps(self.data))
            self.dirty = False
