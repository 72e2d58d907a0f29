"""The secrets of this process, masked in everything orch writes (events, state, reports).

Secrets are the values of secret-named variables (KEY, TOKEN, SECRET,
PASSWORD) in orch's own environment and in the Agents' env, once loaded: the
literal values, and what ``${NAME}`` references give (``ANTHROPIC_API_KEY:
${MY_VAR}`` hands the agent a key whatever MY_VAR is called).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from reconciler.core.model import Desired
from reconciler.core.redact import Redactor, secret_values

_known: set[str] = set()


def remember(desired: Desired, env: Mapping[str, str] | None = None) -> None:
    """Add the secret values of ``desired``'s Agents: their env as written and as resolved.

    ``env``: where ``${NAME}`` references are taken from (orch's environment).
    """
    from reconciler.loop.claude_launch import resolve_env  # claude_launch imports this module

    source = os.environ if env is None else env
    for agent in desired.agents.values():
        _known.update(secret_values(agent.env, resolve_env(agent.env, source)))


def redactor(env: Mapping[str, str] | None = None) -> Redactor:
    """A redactor for orch's environment and every secret remembered so far."""
    values = set(secret_values(os.environ if env is None else env)) | _known
    return Redactor(sorted(values, key=len, reverse=True))


def mask(text: str) -> str:
    """``text`` with every known secret masked."""
    return redactor().text(text)


def mask_data(data: Any) -> Any:
    """JSON-like ``data`` with every known secret masked."""
    return redactor().data(data)
