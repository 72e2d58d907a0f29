"""The files of state/requests/: requests, their results, malformed ones set aside.

``<id>.json`` is a request (written through a temporary file and a rename);
whoever removes it first owns it: the watcher to apply it, or its command to
withdraw it. ``<id>.result.json`` is the watcher's answer, removed by the
command that reads it; ``<id>.json.bad`` a request that could not be read.
The protocol around them is :mod:`reconciler.loop.requests`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from reconciler.loop.state_store import write_atomic

REQUESTS_DIR = "requests"
RESULT = ".result.json"
STALE_SECONDS = 3600.0  # unread results (--no-wait) are removed after this


def is_request_name(name: str) -> bool:
    """Whether a file name in state/requests/ is a request (not a result or temporary file)."""
    return name.endswith(".json") and not name.endswith(RESULT) and not name.startswith(".")


class Inbox:
    """state/requests/: request files, their results, and malformed ones set aside."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / REQUESTS_DIR
        self.cleaned_at = 0.0

    def submit(self, request_id: str, content: dict[str, Any]) -> None:
        """Leave a request for the watcher (atomically: temporary file, then rename)."""
        write_atomic(self.dir / f"{request_id}.json", json.dumps(content))

    def pending(self) -> list[Path]:
        """Request files, oldest first (ids sort by time)."""
        try:
            paths = sorted(self.dir.iterdir())
        except FileNotFoundError:
            return []
        return [p for p in paths if is_request_name(p.name)]

    def withdraw(self, request_id: str) -> bool:
        """Remove a request file: True for whoever removes it first (it then owns it)."""
        try:
            (self.dir / f"{request_id}.json").unlink()
        except FileNotFoundError:
            return False
        return True

    def set_aside(self, path: Path) -> bool:
        """Move a malformed request to ``<name>.bad``; False when it is gone."""
        try:
            path.replace(path.with_name(path.name + ".bad"))
        except FileNotFoundError:
            return False
        return True

    def answer(self, request_id: str, result: dict[str, Any]) -> None:
        """Write ``<id>.result.json``."""
        write_atomic(self.dir / f"{request_id}{RESULT}", json.dumps(result))

    def take_result(self, request_id: str) -> dict[str, Any] | None:
        """Read and remove ``<id>.result.json``; None while there is none."""
        path = self.dir / f"{request_id}{RESULT}"
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        path.unlink(missing_ok=True)
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        return data if isinstance(data, dict) else {"ok": False, "error": f"unreadable {path}"}

    def clean_stale(self, now: float) -> None:
        """Remove results nobody read and temporary files, older than an hour."""
        self.cleaned_at = now
        for path in self.dir.glob("*"):
            if path.name.endswith(RESULT) or path.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > STALE_SECONDS:
                        path.unlink()
