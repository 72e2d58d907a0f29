"""Checks across objects, after each document passed its schema: references, cycles, names.

Each check returns (or appends) SpecErrors located at the document and key
that need the fix; none raises, so every problem of a load is reported at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.errors import SpecError
from reconciler.core.model import Agent, Pipeline, Repo, Worker
from reconciler.core.profiles import PROFILES
from reconciler.data import REPORT_TEMPLATE, RESTART_TEMPLATE
from reconciler.spec.paths import file_problem, repo_problem
from reconciler.spec.refs import ref_problem
from reconciler.spec.yamlsource import Document


@dataclass
class Collected:
    """What one load found so far: errors, every declared object, the valid documents."""

    errors: list[SpecError] = field(default_factory=list)
    # (kind, name) -> the document that declared it first, valid or not
    declared: dict[tuple[str, str], Document] = field(default_factory=dict)
    valid: dict[str, list[tuple[Document, str | None]]] = field(default_factory=dict)
    # Some workers' names are unknown (a WorkerSet that failed): an unknown
    # dependency may be one of them, and is not reported on top of that error.
    unknown_workers: bool = False


ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_env_refs(
    agents: dict[str, Agent], acc: Collected, env: Mapping[str, str]
) -> list[SpecError]:
    """Every ``${NAME}`` an Agent's env takes from orch's environment must be set there."""
    found = []
    for agent in agents.values():
        for key, value in agent.env.items():
            for name in ENV_REF.findall(value):
                if name not in env:
                    msg = (
                        f'env {key}: "${{{name}}}" is not set in the environment orch runs in; '
                        f"export {name} before running orch"
                    )
                    found.append(doc_error(acc, "Agent", agent.name, ("spec", "env", key), msg))
    return found


# Fields that belong to one way of giving an Agent's command line, and mean nothing in the other.
_PROFILE_OPTIONS = ("permissionMode", "allowedTools", "model", "args", "stopNudges")
_COMMAND_FIELDS = ("resume", "sessionIdFrom")


def check_agent_fields(acc: Collected) -> list[SpecError]:
    """An Agent's fields that its kind of command line would silently ignore."""
    found = []
    for doc, _ in acc.valid.get("Agent", []):
        spec, name = doc.data["spec"], doc.data["metadata"]["name"]
        if "profile" in spec:
            wrong = [k for k in _COMMAND_FIELDS if k in spec]
            why = f"comes with profile {spec['profile']}; remove it, or give `command` instead"
        else:
            wrong = [k for k in _PROFILE_OPTIONS if k in spec]
            why = "is an option of a built-in `profile`; with `command`, put it in the argv"
        found += [doc_error(acc, "Agent", name, ("spec", k), f"`{k}` {why}") for k in wrong]
    return found


def inputs(acc: Collected, pipelines: dict[str, Pipeline]) -> tuple[str, ...]:
    """The templates and items files the specs use (relative to the root)."""
    found = {s.prompt for p in pipelines.values() for s in p.stages}
    found |= {RESTART_TEMPLATE, REPORT_TEMPLATE}  # used when present
    found |= {s.restart_prompt for p in pipelines.values() for s in p.stages if s.restart_prompt}
    for doc in acc.declared.values():
        spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
        items = spec.get("items") if isinstance(spec, dict) else None
        if doc.data.get("kind") == "WorkerSet" and isinstance(items, str):
            found.add(items)
    return tuple(sorted(found))


def doc_error(acc: Collected, kind: str, name: str, where: tuple[Any, ...], msg: str) -> SpecError:
    doc = acc.declared[(kind, name)]
    line, col = doc.mark(where)
    return SpecError(doc.path, line, col, f"{kind}/{name}", msg)


def check_references(doc: Document, worker: Worker, acc: Collected) -> None:
    label = f"Worker/{worker.name}"
    for field_name, kind in (("repo", "Repo"), ("pipeline", "Pipeline"), ("agent", "Agent")):
        target = doc.data["spec"][field_name]
        builtin = PROFILES if kind == "Agent" else ()
        if (kind, target) not in acc.declared and target not in builtin:
            known = sorted({n for k, n in acc.declared if k == kind} | set(builtin))
            close = difflib.get_close_matches(target, known, n=1)
            hint = (
                f'; did you mean "{close[0]}"?'
                if close
                else (f" (known: {', '.join(known)})" if known else f" (no {kind} is declared)")
            )
            line, col = doc.mark(("spec", field_name))
            acc.errors.append(
                SpecError(doc.path, line, col, label, f'unknown {field_name} "{target}"{hint}')
            )
    for i, dep in enumerate(worker.depends_on):
        if dep == worker.name:
            msg = "a worker cannot depend on itself"
        elif ("Worker", dep) not in acc.declared and not acc.unknown_workers:
            msg = f'dependsOn: unknown worker "{dep}"'
        else:
            continue
        line, col = doc.mark(("spec", "dependsOn", i))
        acc.errors.append(SpecError(doc.path, line, col, label, msg))


def check_repos(repos: dict[str, Repo], acc: Collected) -> list[SpecError]:
    found = []
    for repo in repos.values():
        if repo.url is not None or repo.path is None:
            continue
        given = acc.declared[("Repo", repo.name)].data["spec"]["path"]
        msg = repo_problem(repo.path, given)
        if msg is None:
            continue
        found.append(doc_error(acc, "Repo", repo.name, ("spec", "path"), msg))
    return found


def check_pipelines(pipelines: dict[str, Pipeline], acc: Collected, root: Path) -> list[SpecError]:
    found = []
    for pipe in pipelines.values():
        seen: set[str] = set()
        for i, stage in enumerate(pipe.stages):
            if stage.name in seen:
                found.append(
                    doc_error(
                        acc,
                        "Pipeline",
                        pipe.name,
                        ("spec", "stages", i, "name"),
                        f'duplicate stage "{stage.name}"',
                    )
                )
            seen.add(stage.name)
            for key, rel in (("prompt", stage.prompt), ("restartPrompt", stage.restart_prompt)):
                if rel is None:
                    continue
                problem = file_problem(root, rel, "template")
                if problem:
                    found.append(
                        doc_error(
                            acc,
                            "Pipeline",
                            pipe.name,
                            ("spec", "stages", i, key),
                            f"{key} {problem}",
                        )
                    )
    return found


def check_cycles(workers: dict[str, Worker], acc: Collected) -> list[SpecError]:
    found: list[SpecError] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for start in workers:
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            name, i = stack.pop()
            if i == 0:
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    cycle = [*path[path.index(name) :], name]
                    found.append(
                        doc_error(
                            acc,
                            "Worker",
                            name,
                            ("spec", "dependsOn"),
                            "dependency cycle: " + " -> ".join(cycle),
                        )
                    )
                    continue
                state[name] = 1
                path.append(name)
            deps = (
                [d for d in workers[name].depends_on if d in workers and d != name]
                if name in workers
                else []
            )
            if i < len(deps):
                stack.append((name, i + 1))
                stack.append((deps[i], 0))
            else:
                state[name] = 2
                path.pop()
    return found


def check_branches(workers: dict[str, Worker], acc: Collected) -> list[SpecError]:
    found: list[SpecError] = []
    seen: dict[tuple[str, str], str] = {}
    for worker in workers.values():
        key = (worker.repo, worker.branch)
        if key in seen:
            found.append(
                doc_error(
                    acc,
                    "Worker",
                    worker.name,
                    ("spec",),
                    f'branch "{worker.branch}" of repo "{worker.repo}" is already '
                    f'used by worker "{seen[key]}"; give each worker its own branch',
                )
            )
        else:
            seen[key] = worker.name
    return found


def check_ref_names(
    repos: dict[str, Repo], workers: dict[str, Worker], acc: Collected
) -> list[SpecError]:
    """Branch names git would refuse, caught before any worktree is made."""
    found = []
    for repo in repos.values():
        problem = ref_problem(repo.default_branch)
        if problem:
            msg = f'defaultBranch "{repo.default_branch}" is not a valid git branch: {problem}'
            found.append(doc_error(acc, "Repo", repo.name, ("spec", "defaultBranch"), msg))
    for worker in workers.values():
        for key, value in (("branch", worker.branch), ("base", worker.base)):
            problem = ref_problem(value)
            if value.startswith("refs/"):
                problem = f'write the branch name without "refs/" (e.g. "{value.split("/")[-1]}")'
            if problem:
                msg = f'{key} "{value}" is not a valid git branch: {problem}'
                found.append(doc_error(acc, "Worker", worker.name, ("spec", key), msg))
        own = _own_branch_problem(worker, repos.get(worker.repo))
        if own:
            found.append(doc_error(acc, "Worker", worker.name, ("spec", "branch"), own))
    return found


def _own_branch_problem(worker: Worker, repo: Repo | None) -> str | None:
    """A worker commits on a branch of its own unless it says adoptBranch: true."""
    if worker.adopt_branch:
        return None
    if worker.branch == worker.base:
        what = "its base"
    elif repo is not None and worker.branch == repo.default_branch:
        what = f'the repo\'s default branch "{repo.default_branch}"'
    else:
        return None
    return (
        f'branch "{worker.branch}" is {what}: the agent would commit straight onto it; '
        "use a branch of its own (the default is orch/<worker>), or set adoptBranch: true"
    )
