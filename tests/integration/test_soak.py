"""The soak test, short: one minute of chaos against a real `orch reconcile --watch`.

The harness is bench/soak.py (imported by path; bench/ is no package): ten
workers with the fake agent bench/soak_agent.sh, the watcher killed with -9,
the tmux server killed, state/ deleted and specs edited at seeded random
intervals, then a last blow of all three at once. Its invariants (see its
docstring): never two live agents for one worker, a watcher that never exits
by itself, every journaled commit and untracked file kept (on a branch, in a
backup ref, or in its worktree), a fleet that converges and finishes its
teardowns within resync + stopGrace + 10 s of the chaos' end, whole
worktrees, and no worker Failed but by its agent. The full run is
``bench/soak.py --workers 30 --minutes 10``.

Deselect with ``-m "not soak"``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def load_harness() -> ModuleType:
    """bench/soak.py as a module (registered first: its dataclasses look themselves up)."""
    name = "orch_bench_soak"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SOAK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.soak
@pytest.mark.parametrize(("workers", "minutes", "seed"), [(10, 1, 20240601)])
def test_soak_keeps_every_invariant(workers: int, minutes: float, seed: int) -> None:
    soak = load_harness()
    lines: list[str] = []
    report = soak.run(workers, minutes, seed, interval=4.0, log=lines.append)
    text = "\n".join([*lines, "", report.summary()])
    print(text)  # shown with -s, or with the failure
    assert report.ok, text
    # the run exercised what it claims to: chaos happened and the agents did work
    assert sum(report.chaos.values()) >= 5, text
    assert report.commits > 0 and report.files > 0, text
    assert report.samples >= minutes * 60, text
