"""spec.importer: the original orchestrator's JSON mapped to specs (pure: no files read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reconciler.core.agent_command import render
from reconciler.core.errors import UsageError
from reconciler.spec.importer import import_original, locals_named
from reconciler.spec.original_issues import duration

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "original"


def sources() -> dict[str, object]:
    return {p.name: json.loads(p.read_text()) for p in sorted(SAMPLE.glob("*.json"))}


def docs(text: str) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def test_local_paths_are_listed_for_the_caller_to_look_at() -> None:
    assert locals_named(sources()) == ["../code/app", "../code/lib"]


def test_repos_take_the_clone_that_exists_else_the_remote() -> None:
    imp = import_original(sources(), {"../code/app": "../code/app"})
    repos = {d["metadata"]["name"]: d for d in docs(imp.files["specs/imported-repos.yaml"])}
    assert list(repos) == ["app", "lib-go"]
    assert repos["app"]["spec"] == {
        "path": "../code/app",
        "defaultBranch": "main",
        "workflows": {"build": "make build", "lint-all": "lint app"},
    }
    assert repos["app"]["metadata"]["labels"] == {
        "language": "python", "platform": "github", "tag.core": "true",
    }  # fmt: skip
    assert repos["lib-go"]["spec"] == {
        "url": "git@gitlab.com:example/lib.git",
        "defaultBranch": "trunk",
        "workflows": {"build": "go build ./..."},  # lint-all's condition is false for go
    }
    assert "# The application\n" in imp.files["specs/imported-repos.yaml"]


def test_issues_become_a_pipeline_and_a_workerset_in_wave_then_priority_order() -> None:
    imp = import_original(sources(), {})
    pipeline, worker_set = docs(imp.files["specs/app-hardening.yaml"])
    assert pipeline["spec"]["stages"][0] == {
        "name": "optimize",
        "prompt": "playbooks/prompts/app-hardening/optimize.md.j2",
        "stallTimeout": "10m",
        "timeout": "90m",
    }
    spec = worker_set["spec"]
    assert spec["parallelism"] == 2
    assert spec["items"] == "config/app-hardening-issues.yaml"
    assert spec["template"]["restartPolicy"] == {"maxRestarts": 4}
    assert spec["template"]["dependsOn"] == "{{ item.dependsOn }}"
    items = yaml.safe_load(imp.files["config/app-hardening-issues.yaml"])
    assert [(i["issue"], i["branch"], i["dependsOn"]) for i in items] == [
        (5, "harden/5", []), (6, "harden/6", []), (7, "harden/7", ["app-hardening-5"]),
    ]  # fmt: skip
    assert all("status" not in i and "assigned_worker" not in i for i in items)
    (old,) = yaml.safe_load(imp.files["config/lib-docs-issues.yaml"])
    assert (old["repo"], old["branch"]) == ("lib-go", "docs/lib-1")  # the repo/repo_path form


LIB_LOCAL = "repos.json: repositories[1].local: ../code/lib is no git clone here; the Repo "
LIB_LOCAL += "clones the remote into clones/ instead"
STAGGER = "app-issues.json: stagger_delay: agent starts are spaced by reconcile.startInterval "
STAGGER += "in config/orch.yaml"
CONDITION = "workflows.json: Lint-All.steps[1].condition: \"'core' in repo.tags\" not "
CONDITION += "understood; the step is left out"


def test_what_is_not_mapped_is_listed_and_runtime_fields_are_counted() -> None:
    imp = import_original(sources(), {"../code/app": "../code/app"})
    assert [str(u) for u in imp.unmapped] == [
        "repos.json: generated_at: not a repository; left out",
        "repos.json: repositories[0].has_claude_md: no Repo field for it",
        LIB_LOCAL,
        "app-issues.json: issues[6].labels: no item field for it",
        "app-issues.json: issues[7].depends_on: #99 is not in this file; dropped",
        STAGGER,
        "workflows.json: build.description: no Repo field for it",
        "workflows.json: build.log_file: orch run keeps each run's log under state/runs/",
        CONDITION,
        "workflows.json: Lint-All.steps[2]: not a cd or run step; left out",
    ]
    assert imp.ignored == {"status": 3, "assigned_worker": 1, "pipeline_stage": 1}


def test_the_prompts_carry_the_project_context_and_render() -> None:
    imp = import_original(sources(), {})
    template = imp.files["playbooks/prompts/app-hardening/write_tests.md.j2"]
    ctx = {
        "worker": "app-hardening-5", "repo": "app", "branch": "harden/5", "base": "main",
        "stage": "write_tests", "stage_index": 1, "stages": ["optimize", "write_tests"],
        "attempt": 1, "worktree": "/w/app-hardening-5", "signal_file": "/w/s.done",
        "failed_file": "/w/s.failed", "progress_file": "/w/.orch/progress.md", "root": "/ctl",
        "vars": {"issue": 5, "title": "First", "description": "Do it."},
    }  # fmt: skip
    text = render(template, ctx)
    for part in ("`/w/app-hardening-5`", "Issue #5: First", "Do it.", "`pytest -q`", "`harden:`",
                 "Keep {{ braces }} literal", "/w/s.done", "/w/.orch/progress.md",
                 "## This stage: write_tests"):  # fmt: skip
        assert part in text, part


@pytest.mark.parametrize(
    ("seconds", "text"), [(900, "15m"), (5400, "90m"), (3600, "1h"), (45, "45s"), (0, None)]
)
def test_seconds_become_durations(seconds: int, text: str | None) -> None:
    assert duration(seconds) == text


def test_a_file_of_the_wrong_shape_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match=r'x-issues\.json: expected an object with "issues"'):
        import_original({"x-issues.json": []}, {})
    with pytest.raises(UsageError, match="names no repository"):
        import_original({"x-issues.json": {"issues": []}}, {})
