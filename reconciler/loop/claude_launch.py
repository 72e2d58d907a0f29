"""What a claude worker needs besides its argv: hook settings, environment, a session to resume.

Each attempt gets a settings file outside the worktree (passed with
``--settings``; inline JSON is ignored by some CLI versions) whose hooks run
`orch hook EVENT` through the python that runs orch (its absolute path:
people run ``.venv/bin/orch`` without activating the virtualenv). A session is
resumed only when its transcript exists and is not empty; otherwise the
attempt starts afresh with the restart summary as its prompt.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from reconciler.core import hooks
from reconciler.core.claude_config import SKIP_BYPASS_PROMPT
from reconciler.core.model import Agent
from reconciler.loop.state_store import write_atomic

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def settings_path(state_dir: Path, worker: str) -> Path:
    """Where a worker's Claude Code settings live (outside its worktree)."""
    return state_dir / "agents" / worker / "settings.json"


def write_settings(path: Path, interactive: bool = False) -> None:
    """The settings whose hooks report every event to `orch hook`.

    ``interactive``: the bypass-permissions warning is skipped too (in orch's
    own settings file, never the user's).
    """
    command = [sys.executable, "-m", "reconciler", "hook"]
    data = hooks.settings(command)
    if interactive:
        data.update(SKIP_BYPASS_PROMPT)
    write_atomic(path, json.dumps(data, indent=1) + "\n")


def resolve_env(env: Mapping[str, str], source: Mapping[str, str]) -> dict[str, str]:
    """``env`` with every ``${NAME}`` taken from ``source`` (orch's own environment).

    Examples
    --------
    >>> resolve_env({"KEY": "${K}", "X": "a-${K}"}, {"K": "v"})
    {'KEY': 'v', 'X': 'a-v'}
    """
    return {k: _REF.sub(lambda m: source.get(m.group(1), ""), v) for k, v in env.items()}


def agent_extras(agent: Agent) -> dict[str, str]:
    """Environment orch adds for a profile: the Stop hook's nudge limit, IS_SANDBOX as root."""
    if agent.profile != "claude":
        return {}
    extra = {"ORCH_STOP_NUDGES": str(agent.stop_nudges)}
    if os.geteuid() == 0 and "IS_SANDBOX" not in agent.env:
        extra["IS_SANDBOX"] = "1"  # claude refuses to skip permissions as root without it
    return extra


def transcript(session_id: str, worktree: str, env: Mapping[str, str]) -> Path | None:
    """The session's transcript under the CLI's config folder, if it exists and holds anything.

    Claude Code keeps it at ``<config>/projects/<cwd, each non-alphanumeric
    character as "-" (long paths cut, with a hash)>/<session id>.jsonl``; a
    session is resumed from the worktree it ran in (from another folder the CLI
    finds no conversation).
    """
    config = env.get("CLAUDE_CONFIG_DIR") or os.environ.get("CLAUDE_CONFIG_DIR")
    projects = (Path(config) if config else Path.home() / ".claude") / "projects"
    exact = projects / re.sub(r"[^A-Za-z0-9]", "-", worktree) / f"{session_id}.jsonl"
    for path in (exact, *projects.glob(f"*/{session_id}.jsonl")):
        try:
            if path.stat().st_size > 0:
                return path
        except OSError:
            continue
    return None
