"""Load specs/ and config/orch.yaml into a validated :class:`Desired`, or every error.

Order: parse every file; check each document's envelope and schema; expand
WorkerSets; then the checks across objects (duplicates, references, cycles,
paths). All problems of a run are collected and raised together as
:class:`SpecErrors`; nothing partial is ever returned.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.errors import SpecError, SpecErrors
from reconciler.core.model import API_VERSION, KINDS, Desired, Pipeline, Repo, Worker, WorkerSet
from reconciler.spec import build
from reconciler.spec.config import load_config
from reconciler.spec.expand import expand_worker_set
from reconciler.spec.paths import file_problem, repo_problem
from reconciler.spec.refs import ref_problem
from reconciler.spec.schemas import schema_errors
from reconciler.spec.yamlsource import Document, parse_documents

SPECS_DIR = "specs"


def spec_files(root: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` under ``root/specs``, recursively, sorted."""
    folder = root / SPECS_DIR
    if not folder.is_dir():
        return []
    files = [p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(files)


@dataclass
class _Collected:
    errors: list[SpecError] = field(default_factory=list)
    # (kind, name) -> the document that declared it first, valid or not
    declared: dict[tuple[str, str], Document] = field(default_factory=dict)
    valid: dict[str, list[tuple[Document, str | None]]] = field(default_factory=dict)


def _label(doc: Document) -> str | None:
    data = doc.data
    kind = data.get("kind") if isinstance(data.get("kind"), str) else None
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if kind and isinstance(name, str):
        return f"{kind}/{name}"
    return kind


def _envelope(doc: Document) -> list[SpecError]:
    def err(where: tuple[str, ...], msg: str) -> SpecError:
        line, col = doc.mark(where)
        return SpecError(
            doc.path, line, col, _label(doc) if isinstance(doc.data, dict) else None, msg
        )

    if not isinstance(doc.data, dict):
        return [err((), "a document must be a mapping with apiVersion, kind, metadata and spec")]
    found = []
    if "apiVersion" not in doc.data:
        found.append(err((), 'missing required field "apiVersion" (use "orch/v1")'))
    elif doc.data["apiVersion"] != API_VERSION:
        found.append(
            err(
                ("apiVersion",),
                f'apiVersion "{doc.data["apiVersion"]}" is not supported; use "{API_VERSION}"',
            )
        )
    kind = doc.data.get("kind")
    if "kind" not in doc.data:
        found.append(err((), f'missing required field "kind" (one of {", ".join(KINDS)})'))
    elif kind not in KINDS:
        close = difflib.get_close_matches(str(kind), KINDS, n=1, cutoff=0.5)
        hint = f'; did you mean "{close[0]}"?' if close else f" (kinds: {', '.join(KINDS)})"
        found.append(err(("kind",), f'unknown kind "{kind}"{hint}'))
    return found


def _collect(doc: Document, acc: _Collected, worker_set: str | None) -> None:
    problems = _envelope(doc)
    kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
    meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    if kind in KINDS and isinstance(name, str):
        # Declared even when invalid: its own errors are reported; references to it
        # must not add a second, false "unknown" error.
        first = acc.declared.get((kind, name))
        if first is not None:
            line, col = doc.mark(("metadata", "name"))
            fline, _ = first.mark(("metadata", "name"))
            where = f"{first.path}:{fline}"
            msg = f'duplicate {kind} "{name}" (first declared at {where})'
            acc.errors.append(SpecError(doc.path, line, col, f"{kind}/{name}", msg))
            return
        acc.declared[(kind, name)] = doc
    if not problems:
        problems = schema_errors(doc, str(kind).lower(), _label(doc))
    if problems:
        acc.errors.extend(problems)
        return
    acc.valid.setdefault(str(kind), []).append((doc, worker_set))


def load_desired(root: Path, env: Mapping[str, str] | None = None) -> Desired:
    """Read, validate and cross-check every spec under ``root``; raise SpecErrors on any problem."""
    root = root.resolve()
    acc = _Collected()
    config, config_errors = load_config(root, env or {})
    acc.errors.extend(config_errors)
    for path in spec_files(root):
        docs, errors = parse_documents(str(path.relative_to(root)), path.read_bytes())
        acc.errors.extend(errors)
        for doc in docs:
            if doc.data is not None:  # an empty document (a stray ---) is nothing
                _collect(doc, acc, None)
    sets: dict[str, WorkerSet] = {}
    for doc, _ in acc.valid.pop("WorkerSet", []):
        generated, errors = expand_worker_set(doc, root)
        acc.errors.extend(errors)
        set_name = doc.data["metadata"]["name"]
        for wdoc in generated:
            _collect(wdoc, acc, set_name)
        sets[set_name] = WorkerSet(
            set_name,
            doc.data["spec"].get("parallelism"),
            tuple(d.data["metadata"]["name"] for d in generated),
            build.source_of(doc),
        )
    desired = _assemble(root, acc, sets, config)
    if acc.errors:
        raise SpecErrors(acc.errors)
    return desired


def _assemble(root: Path, acc: _Collected, sets: dict[str, WorkerSet], config: Any) -> Desired:
    raw = {
        f"{k}/{d.data['metadata']['name']}": d.data["spec"]
        for k, docs in acc.valid.items()
        for d, _ in docs
    }
    repos = {r.name: r for r in (build.build_repo(d, root) for d, _ in acc.valid.get("Repo", []))}
    agents = {a.name: a for a in (build.build_agent(d) for d, _ in acc.valid.get("Agent", []))}
    pipelines = {
        p.name: p for p in (build.build_pipeline(d) for d, _ in acc.valid.get("Pipeline", []))
    }
    workers: dict[str, Worker] = {}
    for doc, ws in acc.valid.get("Worker", []):
        worker = build.build_worker(doc, repos.get(doc.data["spec"]["repo"]), raw, ws)
        workers[worker.name] = worker
        _check_references(doc, worker, acc)
    acc.errors.extend(_check_repos(repos, acc))
    acc.errors.extend(_check_pipelines(pipelines, acc, root))
    acc.errors.extend(_check_cycles(workers, acc))
    acc.errors.extend(_check_branches(workers, acc))
    acc.errors.extend(_check_ref_names(repos, workers, acc))
    return Desired(root, config, repos, agents, pipelines, workers, sets, _inputs(acc, pipelines))


def _inputs(acc: _Collected, pipelines: dict[str, Pipeline]) -> tuple[str, ...]:
    """The prompt templates and items files the specs name (relative to the root)."""
    found = {s.prompt for p in pipelines.values() for s in p.stages}
    found |= {s.restart_prompt for p in pipelines.values() for s in p.stages if s.restart_prompt}
    for doc in acc.declared.values():
        spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
        items = spec.get("items") if isinstance(spec, dict) else None
        if doc.data.get("kind") == "WorkerSet" and isinstance(items, str):
            found.add(items)
    return tuple(sorted(found))


def _doc_error(
    acc: _Collected, kind: str, name: str, where: tuple[Any, ...], msg: str
) -> SpecError:
    doc = acc.declared[(kind, name)]
    line, col = doc.mark(where)
    return SpecError(doc.path, line, col, f"{kind}/{name}", msg)


def _check_references(doc: Document, worker: Worker, acc: _Collected) -> None:
    label = f"Worker/{worker.name}"
    for field_name, kind in (("repo", "Repo"), ("pipeline", "Pipeline"), ("agent", "Agent")):
        target = doc.data["spec"][field_name]
        if (kind, target) not in acc.declared:
            known = sorted(n for k, n in acc.declared if k == kind)
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
        elif ("Worker", dep) not in acc.declared:
            msg = f'dependsOn: unknown worker "{dep}"'
        else:
            continue
        line, col = doc.mark(("spec", "dependsOn", i))
        acc.errors.append(SpecError(doc.path, line, col, label, msg))


def _check_repos(repos: dict[str, Repo], acc: _Collected) -> list[SpecError]:
    found = []
    for repo in repos.values():
        if repo.url is not None or repo.path is None:
            continue
        given = acc.declared[("Repo", repo.name)].data["spec"]["path"]
        msg = repo_problem(repo.path, given)
        if msg is None:
            continue
        found.append(_doc_error(acc, "Repo", repo.name, ("spec", "path"), msg))
    return found


def _check_pipelines(
    pipelines: dict[str, Pipeline], acc: _Collected, root: Path
) -> list[SpecError]:
    found = []
    for pipe in pipelines.values():
        seen: set[str] = set()
        for i, stage in enumerate(pipe.stages):
            if stage.name in seen:
                found.append(
                    _doc_error(
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
                        _doc_error(
                            acc,
                            "Pipeline",
                            pipe.name,
                            ("spec", "stages", i, key),
                            f"{key} {problem}",
                        )
                    )
    return found


def _check_cycles(workers: dict[str, Worker], acc: _Collected) -> list[SpecError]:
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
                        _doc_error(
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


def _check_branches(workers: dict[str, Worker], acc: _Collected) -> list[SpecError]:
    found: list[SpecError] = []
    seen: dict[tuple[str, str], str] = {}
    for worker in workers.values():
        key = (worker.repo, worker.branch)
        if key in seen:
            found.append(
                _doc_error(
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


def _check_ref_names(
    repos: dict[str, Repo], workers: dict[str, Worker], acc: _Collected
) -> list[SpecError]:
    """Branch names git would refuse, caught before any worktree is made."""
    found = []
    for repo in repos.values():
        problem = ref_problem(repo.default_branch)
        if problem:
            msg = f'defaultBranch "{repo.default_branch}" is not a valid git branch: {problem}'
            found.append(_doc_error(acc, "Repo", repo.name, ("spec", "defaultBranch"), msg))
    for worker in workers.values():
        for key, value in (("branch", worker.branch), ("base", worker.base)):
            problem = ref_problem(value)
            if value.startswith("refs/"):
                problem = f'write the branch name without "refs/" (e.g. "{value.split("/")[-1]}")'
            if problem:
                msg = f'{key} "{value}" is not a valid git branch: {problem}'
                found.append(_doc_error(acc, "Worker", worker.name, ("spec", key), msg))
        own = _own_branch_problem(worker, repos.get(worker.repo))
        if own:
            found.append(_doc_error(acc, "Worker", worker.name, ("spec", "branch"), own))
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
