"""Run reports (reports/workers/<name>.md): written with the fleet report from real
events, state and git, committed with it; git asked again only for moved branches."""

from __future__ import annotations

import json
import time
from typing import Any

from reconciler.core.rows import status_rows
from reconciler.loop import engine
from reconciler.loop.run_reports import CACHE, RunReports, git_facts, write_run_reports


def finished(fleet: Any, retry_until: Any, names: list[str]) -> None:
    fleet.base("commit_exit0.sh", stages=[fleet.stage("work", done_when="exit0")])
    fleet.workers(names)

    def probe() -> bool:
        fleet.reconcile(check=False)
        return all(fleet.state(n)["phase"] == "Succeeded" for n in names)

    retry_until(probe, 30, 0.2, "the workers never Succeeded")


def render(fleet: Any) -> RunReports:
    """One render of the run reports, as `orch report` does it."""
    desired = fleet.load()
    observed = engine.snapshot(desired)
    rows = status_rows(desired, observed, engine.make_plan(desired, observed))
    folder = fleet.root / "reports" / "workers"
    return write_run_reports(desired, rows, observed.states, folder, time.time())


def test_orch_report_writes_and_commits_a_run_report_per_worker(
    fleet: Any, retry_until: Any
) -> None:
    finished(fleet, retry_until, ["w1", "w2"])
    done = fleet.cli("report", "--commit", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["commit"]
    committed = fleet.git(fleet.root, "show", "--name-only", "--format=", "HEAD").stdout.split()
    assert committed == ["reports/status.md", "reports/workers/w1.md", "reports/workers/w2.md"]
    fleet_report = (fleet.root / "reports" / "status.md").read_text()
    assert "[report](workers/w1.md)" in fleet_report
    text = (fleet.root / "reports" / "workers" / "w1.md").read_text()
    assert text.startswith("# w1: Succeeded\n")
    assert "[fleet report](../status.md)" in text
    assert "| work | " in text and "| 1 | - | done |" in text
    assert "## Commits on `orch/w1` since `main`: 1" in text
    assert "fake agent: work of w1" in text
    assert "work-w1.txt | 1 +" in text
    assert "work: wrote work-w1.txt" in text


def test_git_is_asked_again_only_for_branches_that_moved(fleet: Any, retry_until: Any) -> None:
    finished(fleet, retry_until, ["w1", "w2", "w3"])
    (fleet.root / "state" / CACHE).unlink(missing_ok=True)
    first = render(fleet)
    assert sorted(first.git_refreshed) == ["w1", "w2", "w3"]
    assert render(fleet).git_refreshed == []  # nothing moved: one for-each-ref, no more
    fleet.git(fleet.worktree("w2"), "commit", "-q", "--allow-empty", "-m", "w2: more work")
    again = render(fleet)
    assert again.git_refreshed == ["w2"]
    assert [p.name for p in again.written] == ["w2.md"]
    text = (fleet.root / "reports" / "workers" / "w2.md").read_text()
    assert "since `main`: 2" in text and "w2: more work" in text


def test_the_control_repos_template_wins(fleet: Any, retry_until: Any) -> None:
    finished(fleet, retry_until, ["w1"])
    fleet.write("reports/templates/worker.md.j2", "{{ worker.name }} took {{ stages | length }} "
                "stage(s); {{ commits_total }} commit(s)\n")  # fmt: skip
    render(fleet)
    text = (fleet.root / "reports" / "workers" / "w1.md").read_text()
    assert text == "w1 took 1 stage(s); 1 commit(s)\n"


def test_the_fleet_reports_ahead_column_uses_the_same_cached_facts(
    fleet: Any, retry_until: Any
) -> None:
    finished(fleet, retry_until, ["w1", "w2"])
    assert fleet.cli("report").returncode == 0
    text = (fleet.root / "reports" / "status.md").read_text()
    assert "| `orch/w1` | 1 | [report](workers/w1.md) |" in text  # one commit ahead
    desired = fleet.load()
    _, asked = git_facts(desired, list(desired.workers.values()))
    assert asked == []  # the report's render left the cache current: git asked for no one


def test_a_base_git_cannot_resolve_is_said_not_counted(fleet: Any, retry_until: Any) -> None:
    finished(fleet, retry_until, ["w1"])
    fleet.git(fleet.repo, "branch", "-q", "gone")
    fleet.workers({"w1": {"base": "gone"}})  # a base that resolves only while it exists
    fleet.git(fleet.repo, "branch", "-q", "-D", "gone")
    assert fleet.cli("report").returncode == 0
    text = (fleet.root / "reports" / "status.md").read_text()
    assert "| `orch/w1` | - |" in text
    run = (fleet.root / "reports" / "workers" / "w1.md").read_text()
    assert "(git could not tell: git log: " in run
