"""The console script imports the app with the collector paused, and leaves it collecting."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, sys
from reconciler.cli import entry
sys.argv = ["orch", "--version"]
try:
    entry.main()
except SystemExit:
    pass
print(gc.isenabled(), gc.get_freeze_count() > 1000, file=sys.stderr)
"""


def test_the_app_runs_with_the_collector_on_and_the_imports_frozen() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.stdout.startswith("orch "), done
    assert done.stderr.split() == ["True", "True"], done.stderr


def test_python_dash_m_is_the_same_entry() -> None:
    done = subprocess.run([sys.executable, "-m", "reconciler", "--version"], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("orch "), done


def test_a_one_shot_command_collects_nothing_while_it_runs_and_puts_the_collector_back() -> None:
    import gc

    import pytest
    import typer

    from reconciler.cli.runner import run
    from reconciler.core.errors import UsageError

    assert run(gc.isenabled, one_shot=True) is False
    assert gc.isenabled()

    def fails() -> None:
        raise UsageError("no such worker")

    with pytest.raises(typer.Exit):
        run(fails, one_shot=True)
    assert gc.isenabled()
    assert run(gc.isenabled) is True
