"""Helpers of the e2e fixtures: a parsed headless run, a hook recorder (see conftest.py)."""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
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


# The hook command: appends the event it gets on stdin to a JSON-lines file;
# with a reason file, a first Stop (stop_hook_active false) is blocked with it.
_HOOK = """\
import json, pathlib, sys
event = json.load(sys.stdin)
log, reason = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with log.open("a") as out:
    out.write(json.dumps(event) + "\\n")
if event["hook_event_name"] == "Stop" and not event["stop_hook_active"] and reason.exists():
    print(json.dumps({"decision": "block", "reason": reason.read_text()}))
"""

HOOK_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Stop",
    "StopFailure",
    "SessionEnd",
)


class HookRecorder:
    """A ``--settings`` file whose hooks record each event they receive, in order."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "events.jsonl"
        self.reason = folder / "stop-reason.txt"
        script = folder / "hook.py"
        script.write_text(_HOOK)
        command = shlex.join([sys.executable, str(script), str(self.log), str(self.reason)])
        entry = [{"hooks": [{"type": "command", "command": command}]}]
        self.settings = folder / "settings.json"
        self.settings.write_text(json.dumps({"hooks": dict.fromkeys(HOOK_EVENTS, entry)}))

    def block_stop(self, reason: str) -> None:
        """Make the first Stop of each turn answer ``{"decision": "block", "reason": ...}``."""
        self.reason.write_text(reason)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """What the hooks received so far (of one ``hook_event_name``, if given)."""
        if not self.log.exists():
            return []
        events = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in events if name is None or e["hook_event_name"] == name]
