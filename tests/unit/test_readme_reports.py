"""The README's "Reports and pull requests" shows reports shaped like today's templates:
its run report has the sections and tables a fresh render has, its fleet report the
columns the packaged template writes."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.core.run_report import GitFacts, RunInput, render_run_report
from reconciler.data import packaged

README = Path(__file__).resolve().parents[2] / "README.md"


def blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Reports and pull requests", 1)[1].split("\n## A worker's life", 1)[0]
    return re.findall(r"````markdown\n(.*?)````", section, re.DOTALL)


def shape(text: str) -> list[str]:
    """Headings, table headers and the keys of the key/value table; names and numbers blurred."""
    lines = text.splitlines()
    kept = []
    for i, line in enumerate(lines):
        header = i + 1 < len(lines) and lines[i + 1].startswith("|---")
        if line.startswith("#") or header:
            kept.append(line)
        elif line.startswith("| ") and "|---|---|" in lines[max(0, i - 12) : i]:
            kept.append(line.split("|")[1])  # a key of the key/value table
    blur = [re.sub(r"\d+", "N", re.sub(r"`[^`]*`", "`x`", line)) for line in kept]
    return [re.sub(r"^# \S+:", "# NAME:", line) for line in blur]


def test_the_readme_run_report_has_the_shape_of_a_fresh_render() -> None:
    _, run = blocks()
    row = {"name": "w1", "phase": "Succeeded", "stage": None, "stageIndex": 2, "stages": 2,
           "attempt": 0, "restarts": 0, "branch": "orch/w1", "repo": "self",
           "reason": "all stages done", "costUsd": None}  # fmt: skip
    events = [{"time": "2026-01-01T00:00:00Z", "verb": "start-agent", "stage": "plan"}]
    fresh = render_run_report(
        packaged("reports/templates/worker.md.j2"),
        RunInput(row=row, events=events, costs={}, git=GitFacts("t", ("a x",), " f | 1 +"),
                 generated=0.0, summary="done", base="main"),
    )  # fmt: skip
    assert shape(run) == shape(fresh)
    assert run.splitlines()[0] == "# demo-b: Succeeded"


def test_the_readme_fleet_report_has_the_packaged_columns() -> None:
    fleet, _ = blocks()
    template = packaged("reports/templates/status.md.j2")
    header = next(line for line in template.splitlines() if line.startswith("| worker |"))
    assert header in fleet.splitlines()
    assert "[report](workers/demo-b.md)" in fleet
