"""An issues file of the original orchestrator (``*-issues.json``) as specs (pure).

One file is one project: its ``pipeline`` (stage names) becomes a Pipeline
whose stages take ``stall_timeout`` and ``wall_clock_timeout``; its
``issues`` become the items of a WorkerSet (``config/<project>-issues.yaml``)
in wave, then priority order, each with its repo, its branch
(``branch_prefix`` + number) and ``dependsOn`` from ``depends_on``; the set's
``parallelism`` is ``num_workers`` and ``max_retries`` its restart limit. Each
stage gets a prompt template that carries the ``project_context`` (language,
build and test commands, safety rules, commit prefix, key files).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

from reconciler.core.errors import UsageError
from reconciler.spec.original import RUNTIME, Imported, add_repo, document, slug

TOP_KEYS = {"project", "repos", "repo", "repo_path", "branch_prefix", "pipeline",
            "project_context", "stall_timeout", "wall_clock_timeout", "max_retries",
            "num_workers", "issues"}  # fmt: skip
ISSUE_KEYS = {"number", "title", "priority", "depends_on", "wave", "description", "repo"}
REPO_MAP_KEYS = {"path", "default_branch", "branch_prefix", "platform"}
HINTS = {
    "tmux_session": "orch names its tmux session after the fleet (tmux.session, config/orch.yaml)",
    "stagger_delay": "agent starts are spaced by reconcile.startInterval in config/orch.yaml",
    "cycle_interval": "the watcher resyncs every reconcile.resync (config/orch.yaml)",
}
STAGE_WORK = {
    "optimize": "Improve the code the issue concerns without changing what it does; build "
    "after each change and commit each step.",
    "write_tests": "Write the tests that show the issue is done, edge cases included; commit them.",
    "run_tests_fix": "Run the test suite and fix what fails (the code when it is wrong, the test "
    "only when it is); never skip a test to pass.",
    "document": "Document what changed (docstrings, README, changelog) and commit it.",
    "research": "Read what exists on the subject and write down what must change, with sources.",
    "draft": "Write the change itself, following the research notes; commit it.",
    "review": "Review the work on this branch as a strict reviewer and fix what you find.",
}
PROMPT_HEAD = """\
You are worker `{{ worker }}` of project @project, on repo `{{ repo }}`, stage
`{{ stage }}` ({{ stage_index + 1 }} of {{ stages | length }}), attempt {{ attempt }}.
Work only in your worktree `{{ worktree }}`, on branch `{{ branch }}` (from
`{{ base }}`); commit there and never push.

Issue #{{ vars.issue }}: {{ vars.title }}
{% if vars.description %}
{{ vars.description }}
{% endif %}
"""
PROMPT_TAIL = """
Keep running notes in `{{ progress_file }}` (.orch/progress.md in your worktree).
When the stage is done, write `{{ signal_file }}`; if it cannot be done, write
`{{ failed_file }}` with a JSON body `{"summary": "why"}`.
"""


def duration(seconds: Any) -> str | None:
    """Seconds as a spec duration, or None when not a positive number.

    Examples
    --------
    >>> duration(900), duration(7200), duration(90), duration("x")
    ('15m', '2h', '90s', None)
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        return None
    s = math.ceil(seconds)
    return f"{s // 3600}h" if s % 3600 == 0 else f"{s // 60}m" if s % 60 == 0 else f"{s}s"


def _context_lines(ctx: Mapping[str, Any]) -> list[str]:
    names = {"language": "Language", "build_command": "Build", "test_command": "Test",
             "commit_prefix": "Commit messages start with", "key_files": "Key files"}  # fmt: skip
    lines = []
    for key, value in ctx.items():
        if key == "safety_rules":
            continue
        label = names.get(key, key.replace("_", " ").capitalize())
        shown = ", ".join(f"`{v}`" for v in value) if isinstance(value, list) else f"`{value}`"
        lines.append(f"- {label}: {shown}")
    rules = ctx.get("safety_rules") or []
    if rules:
        lines.append("- Safety rules, always:")
        lines += [f"  - {rule}" for rule in (rules if isinstance(rules, list) else [rules])]
    return lines


def prompt(project: str, stage: str, ctx: Mapping[str, Any]) -> str:
    """The prompt template of one stage; the project context is literal text (raw)."""
    context = "\n".join(_context_lines(ctx)).replace("{% endraw %}", "{ % endraw % }")
    work = STAGE_WORK.get(stage, f"Carry out the {stage} stage of the pipeline for this issue.")
    text = PROMPT_HEAD.replace("@project", project)
    if context:
        text += "\n## Project context\n\n{% raw %}" + context + "{% endraw %}\n"
    return text + f"\n## This stage: {stage}\n\n{work}\n" + PROMPT_TAIL


def _repos(
    imp: Imported, source: str, data: Mapping[str, Any], clones: Mapping[str, str], project: str
) -> tuple[dict[str, str], str | None]:
    """The Repos the file names (added when new): name -> branch prefix, and the default repo."""
    language = (data.get("project_context") or {}).get("language")
    default_prefix = str(data.get("branch_prefix") or f"{project}/issue-")
    prefixes: dict[str, str] = {}
    if isinstance(data.get("repos"), dict):
        for raw, entry in data["repos"].items():
            entry = entry if isinstance(entry, dict) else {}
            record = {"name": raw, "local": entry.get("path"), "language": language,
                      "default_branch": entry.get("default_branch"),
                      "platform": entry.get("platform")}  # fmt: skip
            for key in sorted(set(entry) - REPO_MAP_KEYS):
                imp.skip(source, f"repos.{raw}.{key}", "no Repo field for it")
            name = slug(raw) if slug(raw) in imp.repos else add_repo(
                imp, source, record, clones, f"repos.{raw}")  # fmt: skip
            if name:
                prefixes[name] = str(entry.get("branch_prefix") or default_prefix)
    elif isinstance(data.get("repo"), str):
        record = {"name": data["repo"], "local": data.get("repo_path"), "language": language}
        name = slug(data["repo"])
        name = name if name in imp.repos else add_repo(imp, source, record, clones, "repo")
        if name:
            prefixes[name] = default_prefix
    else:
        msg = f"{source}: names no repository (neither repos nor repo)"
        raise UsageError(msg)
    return prefixes, next(iter(prefixes)) if len(prefixes) == 1 else None


def _order(issue: Mapping[str, Any]) -> tuple[float, float, float]:
    def num(key: str) -> float:
        value = issue.get(key)
        return float(value) if isinstance(value, int | float) else math.inf

    return num("wave"), num("priority"), num("number")


def _items(
    imp: Imported, source: str, issues: list[Any], project: str, prefixes: dict[str, str],
    default: str | None,
) -> list[dict[str, Any]]:  # fmt: skip
    names = {i["number"]: f"{project}-{i['number']}" for i in issues
             if isinstance(i, dict) and isinstance(i.get("number"), int)}  # fmt: skip
    items = []
    for issue in sorted((i for i in issues if isinstance(i, dict)), key=_order):
        number = issue.get("number")
        repo = slug(str(issue["repo"])) if issue.get("repo") else default
        if not isinstance(number, int) or repo not in prefixes:
            why = "no number" if not isinstance(number, int) else f'repo "{repo}" is not known'
            imp.skip(source, f"issues[number={number}]", f"{why}; the issue is left out")
            continue
        deps = []
        for dep in issue.get("depends_on") or []:
            if dep in names:
                deps.append(names[dep])
            else:
                imp.skip(
                    source, f"issues[{number}].depends_on", f"#{dep} is not in this file; dropped"
                )
        for key in sorted(set(issue) - ISSUE_KEYS):
            if key in RUNTIME:
                imp.ignore(key)
            else:
                imp.skip(source, f"issues[{number}].{key}", "no item field for it")
        items.append({
            "issue": number, "title": str(issue.get("title", "")), "repo": repo,
            "branch": f"{prefixes[repo]}{number}", "dependsOn": deps,
            "priority": issue.get("priority"), "wave": issue.get("wave"),
            "description": str(issue.get("description", "")),
        })  # fmt: skip
    return items


def map_issues(
    imp: Imported, source: str, data: Any, clones: Mapping[str, str], agent: str
) -> None:
    """One ``*-issues.json``: Pipeline, WorkerSet, items file and stage prompts."""
    if not isinstance(data, dict) or not isinstance(data.get("issues"), list):
        msg = f'{source}: expected an object with "issues": [...]'
        raise UsageError(msg)
    project = slug(data.get("project") or source.removesuffix("-issues.json"), 50)
    prefixes, default = _repos(imp, source, data, clones, project)
    stage_names = [re.sub(r"[^a-z0-9_-]+", "_", str(s).lower()).strip("_-")[:63]
                   for s in data.get("pipeline") or ["work"]]  # fmt: skip
    stages = []
    for stage in stage_names:
        spec: dict[str, Any] = {
            "name": stage,
            "prompt": f"playbooks/prompts/{project}/{stage}.md.j2",
        }
        for key, field in (("stall_timeout", "stallTimeout"), ("wall_clock_timeout", "timeout")):
            if key in data and duration(data[key]) is None:
                imp.skip(source, key, f"{data[key]!r} is not a number of seconds; default kept")
            elif key in data:
                spec[field] = duration(data[key])
        stages.append(spec)
        imp.files[spec["prompt"]] = prompt(project, stage, data.get("project_context") or {})
    template: dict[str, Any] = {
        "repo": "{{ item.repo }}", "pipeline": project, "agent": agent,
        "branch": "{{ item.branch }}", "dependsOn": "{{ item.dependsOn }}", "vars": "{{ item }}",
    }  # fmt: skip
    if isinstance(data.get("max_retries"), int) and data["max_retries"] >= 0:
        template["restartPolicy"] = {"maxRestarts": min(data["max_retries"], 1000)}
    items_rel = f"config/{project}-issues.yaml"
    ws: dict[str, Any] = {"items": items_rel, "nameTemplate": project + "-{{ item.issue }}"}
    if isinstance(data.get("num_workers"), int) and data["num_workers"] >= 1:
        ws["parallelism"] = data["num_workers"]
    ws["template"] = template
    items = _items(imp, source, data["issues"], project, prefixes, default)
    head = [f"imported from {source}: project {data.get('project', project)}"]
    imp.files[f"specs/{project}.yaml"] = (
        document("Pipeline", project, {"stages": stages}, head)
        + "---\n"
        + document("WorkerSet", project, ws)
    )
    imp.files[items_rel] = (
        f"# The issues of {source}, in wave then priority order.\n"
        + yaml.safe_dump(items, sort_keys=False, width=100, allow_unicode=True)
    )
    for key in sorted(set(data) - TOP_KEYS):
        if key in RUNTIME:
            imp.ignore(key)
        else:
            imp.skip(source, key, HINTS.get(key, "no spec field for it"))
