"""A finished headless run of the Claude Code CLI, parsed (used by tests/e2e/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLAUDE_VERSION = "2.1.197"
TEST_API_KEY = "sk-test-orch-e2e-0123456789abcdef"


@dataclass(frozen=True)
class ClaudeRun:
    """One finished ``claude -p`` run: exit code, seconds, stream-json lines, stderr."""

    returncode: int
    seconds: float
    lines: list[dict[str, Any]]
    stderr: str

    @property
    def init(self) -> dict[str, Any]:
        """The ``system/init`` line (``session_id``, ``cwd``, ``tools``, ``model``...)."""
        return next(
            x for x in self.lines if x.get("type") == "system" and x.get("subtype") == "init"
        )

    @property
    def result(self) -> dict[str, Any]:
        """The last line, ``type: result`` (read ``is_error``, not ``subtype``)."""
        assert self.lines and self.lines[-1].get("type") == "result", self.lines[-3:]
        return self.lines[-1]

    def of_type(self, kind: str, subtype: str | None = None) -> list[dict[str, Any]]:
        """The lines of one ``type`` (and ``subtype``)."""
        return [
            x
            for x in self.lines
            if x.get("type") == kind and (subtype is None or x.get("subtype") == subtype)
        ]
