"""What `orch status` shows: rows, the reconciler, and the specs they come from.

Status never refuses to show the fleet. While the specs are invalid it shows
the last valid desired state a reconcile remembered (state/desired.json),
else only what is observed (state files and windows), with the first error.
Without a reconciler running, workers it never started are "not started"
rather than what a pass would make of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.errors import SpecErrors
from reconciler.core.model import Desired
from reconciler.core.rows import foreign_rows, observed_rows, status_rows
from reconciler.loop import desired_cache, engine, spec_revision
from reconciler.loop.reconciler_info import reconciler_status

SPECS = "specs"  # the rows come from the current specs
LAST_VALID = "last-valid"  # from the last valid specs a reconcile remembered
OBSERVED = "observed"  # from state files and windows alone


@dataclass(frozen=True)
class StatusView:
    """Everything `orch status` prints (``--json`` carries all of it)."""

    rows: list[dict[str, Any]]
    foreign: list[dict[str, Any]]
    revision: dict[str, object]
    warnings: list[str]
    reconciler: dict[str, Any]
    specs_error: dict[str, Any] | None
    source: str

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {"workers": self.rows, "foreign": self.foreign, **self.revision,
                "warnings": self.warnings, "reconciler": self.reconciler,
                "specsError": self.specs_error, "source": self.source}  # fmt: skip


def status_view(root: Path, env: Mapping[str, str] | None = None) -> StatusView:
    """Load (or fall back), observe and plan, writing nothing."""
    env = os.environ if env is None else env
    specs_error = None
    source = SPECS
    try:
        desired = engine.load(root, env, require_env=False)
    except SpecErrors as err:
        first = str(err.errors[0]) if err.errors else str(err)
        specs_error = {"first": first, "count": max(1, len(err.errors))}
        cached = desired_cache.last(root.resolve())
        source = LAST_VALID if cached is not None else OBSERVED
        desired = cached if cached is not None else _bare(root, env)
    observed = engine.snapshot(desired)
    reconciler = reconciler_status(desired.state_dir)
    if source == OBSERVED:
        rows = observed_rows(observed)
    else:
        the_plan = engine.make_plan(desired, observed)
        running = reconciler["running"] is not False
        rows = status_rows(desired, observed, the_plan, reconciling=running)
    warnings = [f"state file {p} is unreadable ({why}); the next reconcile moves it aside"
                for p, why in observed.corrupt]  # fmt: skip
    from reconciler.loop.report_memory import read_memory

    revision = {**spec_revision.remembered(desired.root, desired.state_dir),
                "reportWaiting": read_memory(desired).get("waiting")}  # fmt: skip
    return StatusView(rows, foreign_rows(observed), revision, warnings, reconciler, specs_error,
                      source)  # fmt: skip


def _bare(root: Path, env: Mapping[str, str]) -> Desired:
    """No workers, the config as far as it loads: enough to observe the fleet's windows."""
    from reconciler.spec.config import load_config

    config, _ = load_config(root.resolve(), env)
    return Desired(root.resolve(), config, {}, {}, {}, {}, {})
