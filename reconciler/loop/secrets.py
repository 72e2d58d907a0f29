"""The secrets of this process, masked in everything orch writes (events, state, reports).

Secrets are the values of secret-named variables (KEY, TOKEN, SECRET,
PASSWORD) in orch's own environment and in the Agents' env, once loaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from reconciler.core.model import Desired
from reconciler.core.redact import Redactor, secret_values

_known: set[str] = set()


def remember(desired: Desired) -> None:
    """Add the secret values of ``desired``'s Agents (literal values in their env)."""
    _known.update(secret_values(*(a.env for a in desired.agents.values())))


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
