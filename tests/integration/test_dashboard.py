"""`orch dashboard` in the fleet session's `dashboard` window, read with capture-pane.

The reconciler starts the dashboard when it creates the session (tmux.dashboard);
these tests read what the real pane shows, on the test's private tmux server.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
Retry = Callable[..., Any]


def with_dashboard(fleet: Fleet, monkeypatch: pytest.MonkeyPatch, workers: list[str]) -> None:
    """Specs with ``workers`` (sleep.sh), and a config whose session runs the dashboard.

    The suite sets ORCH_DASHBOARD=0 (tests/conftest.py); the config decides here.
    """
    monkeypatch.delenv("ORCH_DASHBOARD")
    fleet.settings(tmux="dashboard: true")
    fleet.base("sleep.sh")
    fleet.workers(workers)


def screen(fleet: Fleet) -> str:
    """What the dashboard window shows now."""
    done = fleet.tmux("capture-pane", "-p", "-t", f"{fleet.session}:dashboard", check=False)
    return done.stdout


def row(text: str, worker: str) -> str:
    """The dashboard line of ``worker`` (empty when it is not shown)."""
    return next((line for line in text.splitlines() if line.startswith(f"{worker} ")), "")


def test_the_dashboard_window_shows_workers_and_a_phase_change_within_2s(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, retry_until: Retry
) -> None:
    with_dashboard(fleet, monkeypatch, ["alpha", "beta"])
    fleet.reconcile()

    def both() -> str | None:
        text = screen(fleet)
        return text if "2 workers: 2 Running" in text and "start-agent" in text else None

    shown = retry_until(both, 20, message="both workers running on the dashboard")
    assert "Running" in row(shown, "alpha") and "Running" in row(shown, "beta")
    assert "start-agent work#1: new worker" in shown  # the newest events, at the bottom
    assert max(len(line) for line in shown.splitlines()) <= 80  # the window's width

    fleet.tmux("resize-window", "-t", f"{fleet.session}:dashboard", "-x", "150", "-y", "40")
    retry_until(  # redrawn at the new size, with room for the agent's last log line
        lambda: "sleep agent: worker alpha, stage work, attempt 1" in row(screen(fleet), "alpha"),
        5,
        message="the full last line after resizing",
    )

    pid = int(fleet.window("beta")["pane_pid"])
    os.kill(pid, signal.SIGKILL)  # the agent dies: the next observation sees its exit
    changed = retry_until(lambda: fleet.status()["beta"]["phase"] != "Running", 10)
    assert changed
    phase = fleet.status()["beta"]["phase"]
    seen_at = time.monotonic()
    retry_until(lambda: phase in row(screen(fleet), "beta"), 2.0, message=f"beta {phase}")
    assert time.monotonic() - seen_at <= 2.0
    assert "Running" in row(screen(fleet), "alpha")


def test_a_dashboard_that_dies_leaves_a_shell_and_the_reconciler_goes_on(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, retry_until: Retry
) -> None:
    with_dashboard(fleet, monkeypatch, ["alpha"])
    fleet.reconcile()
    retry_until(lambda: row(screen(fleet), "alpha"), 20, message="the dashboard drawn")
    [dash] = [w for w in fleet.windows() if w["window_name"] == "dashboard"]
    [child] = psutil.Process(int(dash["pane_pid"])).children()  # the dashboard's python

    child.kill()  # as if it crashed

    retry_until(lambda: "orch dashboard exited" in screen(fleet), 10, message="the note")
    assert f"--root {fleet.root} dashboard" in screen(fleet).replace("\n", "")
    fleet.workers(["alpha", "gamma"])
    result = fleet.reconcile()  # nothing waits for the dashboard
    assert [e.worker for e in result.events if e.verb == "start-agent"] == ["gamma"]
    after = [w for w in fleet.windows() if w["window_name"] == "dashboard"]
    assert [(w["window_id"], w["pane_dead"]) for w in after] == [(dash["window_id"], "0")]


def test_dashboard_once_prints_one_frame(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["alpha", "beta"])
    fleet.reconcile()

    done = fleet.cli("dashboard", "--once")

    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert lines[1] == "2 workers: 2 Running"
    assert row(done.stdout, "alpha").split()[:3] == ["alpha", "Running", "work"]
    assert "last pass 0s ago" in lines[0] or "last pass 1s ago" in lines[0]


def test_dashboard_once_with_broken_specs_says_where_and_exits_1(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.write("specs/broken.yaml", "kind: [\n")

    done = fleet.cli("dashboard", "--once")

    assert done.returncode == 1, done
    assert done.stdout == "", done
    assert done.stderr.startswith("specs/broken.yaml:"), done


def test_the_live_dashboard_keeps_going_when_the_specs_break(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, retry_until: Retry
) -> None:
    with_dashboard(fleet, monkeypatch, ["alpha"])
    fleet.reconcile()
    retry_until(lambda: row(screen(fleet), "alpha"), 20, message="the dashboard drawn")

    fleet.write("specs/broken.yaml", "kind: [\n")

    text = retry_until(lambda: (t := screen(fleet)) and "! specs/broken.yaml:" in t and t, 10)
    assert "Running" in row(text, "alpha")  # the last rows stay, under the error


def test_the_sampler_measures_log_growth_and_forgets_removed_workers(
    fleet: Fleet, retry_until: Retry
) -> None:
    from reconciler.loop.dashboard import Sampler

    fleet.base("sleep.sh")
    fleet.workers(["alpha", "beta"])
    fleet.reconcile()
    sampler = Sampler(fleet.root)
    log = fleet.logs("alpha") / "work-1.log"
    retry_until(lambda: log.is_file() and log.stat().st_size > 0, 10, message="alpha's log")
    sampler.frame(time.time(), 120, 40)

    with log.open("a") as fh:  # as the agent would: 300 bytes, then a last line
        fh.write("x" * 299 + "\nthe newest line\n")
    frame = sampler.frame(time.time(), 120, 40)

    assert frame.growth["alpha"][-1] == 300 + len("the newest line\n")
    assert frame.growth["beta"][-1] == 0
    assert frame.last_lines["alpha"] == "the newest line"

    fleet.workers(["beta"])
    fleet.reconcile()
    frame = sampler.frame(time.time(), 120, 40)
    assert [r["name"] for r in frame.rows] == ["beta"]
    assert set(frame.growth) == set(frame.last_lines) == {"beta"}
