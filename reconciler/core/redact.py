"""Secrets never leave orch in what it writes: logs lines, state, events, reports, summaries.

An environment variable whose name holds KEY, TOKEN, SECRET or PASSWORD is a
secret; its value is replaced by ``***`` wherever orch writes text. A value
that is only a reference (``${ANTHROPIC_API_KEY}``) is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)
_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_MIN_LENGTH = 4  # shorter values would mask ordinary words
# A secret-named variable with a shorter value is a setting (TOKENIZERS_PARALLELISM=false),
# not a secret: masking it would hide every "false" orch writes.
_MIN_SECRET = 8


def is_secret_name(name: str) -> bool:
    """Whether a variable called ``name`` holds a secret.

    Examples
    --------
    >>> is_secret_name("ANTHROPIC_API_KEY"), is_secret_name("GH_TOKEN"), is_secret_name("PATH")
    (True, True, False)
    """
    return bool(_SECRET_NAME.search(name))


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with every secret value masked (references like ``${NAME}`` kept).

    Examples
    --------
    >>> redact_env({"API_KEY": "sk-123456", "REF_TOKEN": "${T}", "MODE": "fast"})
    {'API_KEY': '***', 'REF_TOKEN': '${T}', 'MODE': 'fast'}
    """
    return {
        k: MASK if is_secret_name(k) and v and not _REFERENCE.match(v) else v
        for k, v in env.items()
    }


def secret_values(*envs: Mapping[str, str]) -> tuple[str, ...]:
    """The values of every secret-named variable of ``envs`` (8+ characters; longest first,
    then in order)."""
    found = {
        v
        for env in envs
        for k, v in env.items()
        if is_secret_name(k) and len(v) >= _MIN_SECRET and not _REFERENCE.match(v)
    }
    return tuple(sorted(found, key=lambda v: (-len(v), v)))


class Redactor:
    """Replaces known secret values in text.

    Examples
    --------
    >>> Redactor(["sk-123456"]).text("key=sk-123456 ok")
    'key=*** ok'
    """

    def __init__(self, values: Iterable[str]) -> None:
        # longest first: a secret inside a longer one must not break the longer one up
        kept = {v for v in values if len(v) >= _MIN_LENGTH}
        self.values = tuple(sorted(kept, key=lambda v: (-len(v), v)))

    def text(self, value: str) -> str:
        """``value`` with every secret masked."""
        for secret in self.values:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def data(self, value: object) -> object:
        """JSON-like data with every string masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value
