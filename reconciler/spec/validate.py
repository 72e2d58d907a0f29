"""Load specs/ and config/orch.yaml into a validated :class:`Desired`, or every error.

Order: parse every file; check each document's envelope and schema; expand
WorkerSets; then the checks across objects (duplicates, references, cycles,
paths). All problems of a run are collected and raised together as
:class:`SpecErrors`; nothing partial is ever returned.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.core.errors import SpecError, SpecErrors
from reconciler.core.model import (
    API_VERSION,
    KINDS,
    Desired,
    Worker,
    WorkerSet,
)
from reconciler.core.profiles import builtin_agents
from reconciler.spec import build, checks
from reconciler.spec.argv import check_agent_argv
from reconciler.spec.checks import Collected
from reconciler.spec.collapse import collapse
from reconciler.spec.config import load_config
from reconciler.spec.expand import Expansion, expand_worker_set
from reconciler.spec.schemas import schema_errors
from reconciler.spec.templates import check_templates
from reconciler.spec.yamlsource import Document, parse_documents

SPECS_DIR = "specs"


def spec_files(root: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` under ``root/specs``, recursively, sorted."""
    folder = root / SPECS_DIR
    if not folder.is_dir():
        return []
    files = [p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(files)


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


def _collect(doc: Document, acc: Collected, worker_set: str | None) -> None:
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


def _spec_texts(root: Path, files: Mapping[str, bytes] | None) -> list[tuple[str, bytes]]:
    """(path relative to root, bytes) of every spec file: saved, or from ``files``."""
    if files is None:
        return [(str(p.relative_to(root)), p.read_bytes()) for p in spec_files(root)]
    wanted = [rel for rel in files if rel.startswith(f"{SPECS_DIR}/")]
    ordered = sorted(wanted, key=lambda rel: Path(rel).parts)  # as spec_files sorts paths
    return [(rel, files[rel]) for rel in ordered if rel.endswith((".yaml", ".yml"))]


def load_desired(
    root: Path,
    env: Mapping[str, str] | None = None,
    *,
    require_env: bool = True,
    files: Mapping[str, bytes] | None = None,
    require_repos: bool = True,
) -> Desired:
    """Read, validate and cross-check every spec under ``root``; raise SpecErrors on any problem.

    ``require_env``: every ``${VAR}`` an Agent's env names must be set in ``env``.
    Commands that start no agent (status, get, cleanup) do without, so a secret
    missing from this shell does not keep them from looking at the fleet.
    ``files``: the spec and config files as committed (path relative to root ->
    bytes), read instead of the saved ones (``reconcile.source: committed``).
    ``require_repos``: every Repo ``path`` must be a git repository on disk;
    `orch repos` and `orch run` do without, and report a missing one as a row.
    """
    root = root.resolve()
    acc = Collected()
    config, config_errors = load_config(root, env or {}, files)
    acc.errors.extend(config_errors)
    for rel, text in _spec_texts(root, files):
        docs, errors = parse_documents(rel, text)
        acc.errors.extend(errors)
        for doc in docs:
            if doc.data is not None:  # an empty document (a stray ---) is nothing
                _collect(doc, acc, None)
    sets: dict[str, WorkerSet] = {}
    acc.unknown_workers = _failed_sets(acc)
    for doc, _ in acc.valid.pop("WorkerSet", []):
        generated, errors = _expanded(expand_worker_set(doc, root), acc)
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
    desired = _assemble(
        root, acc, sets, config, env or {} if require_env else None, require_repos=require_repos
    )
    if acc.errors:
        raise SpecErrors(acc.errors)
    return desired


def _failed_sets(acc: Collected) -> bool:
    """Whether a WorkerSet failed its schema: the names of its workers are unknown."""
    valid = {id(d) for d, _ in acc.valid.get("WorkerSet", [])}
    return any(
        kind == "WorkerSet" and id(doc) not in valid for (kind, _), doc in acc.declared.items()
    )


def _expanded(made: Expansion, acc: Collected) -> tuple[list[Document], list[SpecError]]:
    """The workers and errors of one WorkerSet; what its errors hide is noted in ``acc``."""
    acc.unknown_workers |= not made.complete
    for failed in made.failed:  # declared, so a dependency on it adds no second error
        acc.declared.setdefault(("Worker", failed.data["metadata"]["name"]), failed)
    return made.workers, made.errors


def _assemble(
    root: Path,
    acc: Collected,
    sets: dict[str, WorkerSet],
    config: Any,
    env: Mapping[str, str] | None,
    *,
    require_repos: bool = True,
) -> Desired:
    raw = {
        f"{k}/{d.data['metadata']['name']}": d.data["spec"]
        for k, docs in acc.valid.items()
        for d, _ in docs
    }
    repos = {r.name: r for r in (build.build_repo(d, root) for d, _ in acc.valid.get("Repo", []))}
    agents = builtin_agents()  # `agent: claude` needs no document; a document of the name wins
    agents.update(
        {a.name: a for a in (build.build_agent(d) for d, _ in acc.valid.get("Agent", []))}
    )
    pipelines = {
        p.name: p for p in (build.build_pipeline(d) for d, _ in acc.valid.get("Pipeline", []))
    }
    workers: dict[str, Worker] = {}
    for doc, ws in acc.valid.get("Worker", []):
        worker = build.build_worker(doc, repos.get(doc.data["spec"]["repo"]), raw, ws)
        workers[worker.name] = worker
        checks.check_references(doc, worker, acc)
    if require_repos:
        acc.errors.extend(checks.check_repos(repos, acc))
    acc.errors.extend(checks.check_pipelines(pipelines, acc, root))
    acc.errors.extend(checks.check_cycles(workers, acc))
    acc.errors.extend(checks.check_branches(workers, acc))
    acc.errors.extend(checks.check_ref_names(repos, workers, acc))
    acc.errors.extend(checks.check_agent_fields(acc))
    if env is not None:
        acc.errors.extend(checks.check_env_refs(agents, acc, env))
    desired = Desired(
        root, config, repos, agents, pipelines, workers, sets, checks.inputs(acc, pipelines)
    )
    acc.errors.extend(check_templates(desired))
    acc.errors.extend(check_agent_argv(desired, acc))
    # one error for a mistake repeated in the workers (or items) of a WorkerSet
    acc.errors[:] = collapse(acc.errors, {n: ws.name for ws in sets.values() for n in ws.workers})
    return desired
