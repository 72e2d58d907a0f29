"""When workers are done, and how it went (pure): for `orch wait` and the report cadence.

A worker is *final* when nothing more happens to it by itself: Succeeded,
Failed, or Blocked (a dependency failed; only a spec change moves it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.core.actions import Phase

TERMINAL_PHASES: frozenset[str] = frozenset({Phase.SUCCEEDED.value, Phase.FAILED.value})
FINAL_PHASES: frozenset[str] = TERMINAL_PHASES | {Phase.BLOCKED.value}
WAIT_TIMEOUT_CODE = 124  # as timeout(1) and `kubectl wait`


def settled(phases: Mapping[str, str]) -> bool:
    """Whether every worker is final (an empty fleet is not settled).

    Examples
    --------
    >>> settled({"a": "Succeeded", "b": "Failed"}), settled({"a": "Running"}), settled({})
    (True, False, False)
    >>> settled({"a": "Failed", "b": "Blocked"})
    True
    """
    return bool(phases) and all(p in FINAL_PHASES for p in phases.values())


def exit_code(phases: Iterable[str]) -> int | None:
    """`orch wait`'s exit code once all ``phases`` are final (None before): 0 all Succeeded, else 1.

    Examples
    --------
    >>> exit_code(["Succeeded", "Succeeded"]), exit_code(["Succeeded", "Failed"])
    (0, 1)
    >>> exit_code(["Succeeded", "Running"]) is None, exit_code(["Blocked"]), exit_code([])
    (True, 1, 0)
    """
    seen = list(phases)
    if any(p not in FINAL_PHASES for p in seen):
        return None
    return 0 if all(p == Phase.SUCCEEDED.value for p in seen) else 1
