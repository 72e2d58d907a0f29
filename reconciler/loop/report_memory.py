"""state/report.json: what the last report commit held, and when (read by `orch status`).

Its own module so that reading it does not import the report writer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.core.model import Desired
from reconciler.loop.state_store import write_atomic

MEMORY = "report.json"


def memory_file(desired: Desired) -> Path:
    """state/report.json: what the last report commit held, and when."""
    return desired.state_dir / MEMORY


def read_memory(desired: Desired) -> dict[str, Any]:
    """The report memory (empty when missing or unreadable)."""
    try:
        data = json.loads(memory_file(desired).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_memory(desired: Desired, memory: dict[str, Any]) -> None:
    """Write the report memory."""
    write_atomic(memory_file(desired), json.dumps(memory, sort_keys=True))
