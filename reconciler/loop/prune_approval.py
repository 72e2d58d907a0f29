"""`orch approve-prune`: a person's approval of one blocked mass prune, in state/.

The approval names the workers it lets the mass-prune guard remove
(``state/prune-approval.json``). Every plan reads it; a prune passes when each
worker it removes is named there. It is honoured once: a pass that finds none
of its workers still being removed or replaced deletes it, so a later mass
prune is blocked again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path

from reconciler.core.actions import Plan
from reconciler.core.duration import utc_iso
from reconciler.loop.state_store import write_atomic

APPROVAL_FILE = "prune-approval.json"


def read(state_dir: Path) -> frozenset[str]:
    """The workers an approval names; empty when there is none (or it is unreadable)."""
    try:
        data = json.loads((state_dir / APPROVAL_FILE).read_text())
    except (OSError, ValueError):
        return frozenset()
    workers = data.get("workers") if isinstance(data, dict) else None
    if not isinstance(workers, list):
        return frozenset()
    return frozenset(w for w in workers if isinstance(w, str))


def write(state_dir: Path, workers: Iterable[str], now: float, by: str) -> None:
    """Approve removing ``workers`` (replacing any earlier approval)."""
    data = {"workers": sorted(set(workers)), "approved": utc_iso(now), "by": by}
    write_atomic(state_dir / APPROVAL_FILE, json.dumps(data) + "\n")


def settle(
    state_dir: Path, approved: frozenset[str], plan: Plan, gone: Iterable[str] = ()
) -> bool:
    """Delete the approval once none of its workers is being removed; True when it did.

    ``gone``: workers the pass of ``plan`` forgot (their removal is complete).
    """
    if not approved or approved & (set(plan.pruning) - set(gone)):
        return False
    with contextlib.suppress(FileNotFoundError):
        (state_dir / APPROVAL_FILE).unlink()
    return True
