"""`orch reconcile --watch` (placeholder until the watch issue lands)."""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import UsageError


def watch_loop(root: Path, *, allow_mass_prune: bool, as_json: bool) -> None:
    """Not built yet."""
    raise UsageError("--watch is not available yet; run `orch reconcile` periodically")
