"""Claude Code's config files made ready for interactive workers (the I/O of core.claude_config).

By default the user's own config (``$CLAUDE_CONFIG_DIR/.claude.json``, else
``~/.claude.json``) is kept: orch adds the trust entry of the worktrees'
folder when it is missing, writing the file atomically after a backup copy
beside it (``.claude.json.orch-backup``). With ``claudeConfigDir`` (an Agent's,
else config ``claude.configDir``) every claude worker of the fleet uses that
folder instead, which orch fills completely.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.core.claude_config import filled, needs_change, with_trust
from reconciler.core.model import Agent, Desired
from reconciler.loop.state_store import write_atomic

BACKUP_SUFFIX = ".orch-backup"


def own_dir(desired: Desired, agent: Agent) -> Path | None:
    """The config folder orch owns for ``agent``'s workers, if one is configured."""
    chosen = agent.claude_config_dir or desired.config.claude_config_dir
    return (desired.root / chosen).resolve() if chosen else None


def trusted_folder(desired: Desired) -> str:
    """The folder holding every worktree (trusting it covers each one below)."""
    return str((desired.root / desired.config.worktrees_root).resolve())


def config_env(desired: Desired, agent: Agent) -> dict[str, str]:
    """Environment the agent needs for orch's config folder (empty: the user's config)."""
    if agent.profile != "claude":
        return {}
    folder = own_dir(desired, agent)
    return {"CLAUDE_CONFIG_DIR": str(folder)} if folder else {}


def prepare(desired: Desired, agent: Agent, env: Mapping[str, str]) -> None:
    """Pre-answer the first-run screens an interactive claude would show under ``env``.

    ``env``: the agent's resolved environment (its ``CLAUDE_CONFIG_DIR``, API key).
    An unreadable user config is left untouched: the screen it causes shows
    as NeedsInput, never as damage to the user's login.
    """
    folder = trusted_folder(desired)
    own = own_dir(desired, agent)
    if own is not None:
        path = own / ".claude.json"
        data = _read(path) or {}
        write_atomic(path, json.dumps(filled(data, folder, env.get("ANTHROPIC_API_KEY")),
                                      indent=2) + "\n", mode=0o600)  # fmt: skip
        return
    base = env.get("CLAUDE_CONFIG_DIR")
    path = Path(base) / ".claude.json" if base else Path.home() / ".claude.json"
    found = _read(path) if path.exists() else {}
    if found is None or not needs_change(found, folder):
        return
    if path.exists():
        shutil.copy2(path, path.with_name(path.name + BACKUP_SUFFIX))
    write_atomic(path, json.dumps(with_trust(found, folder), indent=2) + "\n", mode=0o600)


def _read(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
