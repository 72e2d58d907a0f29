"""The JSON configuration of the orchestrator orch replaces, mapped to specs (pure).

``repos.json`` gives Repo documents, ``workflows.json`` their ``workflows``
(the steps whose condition holds for the repo), each ``*-issues.json`` a
Pipeline, a WorkerSet over its issues and the stage prompts (see
:mod:`reconciler.spec.original_issues`). Nothing here reads a file: the caller
passes the parsed JSON and which local clones exist. What has no equivalent is
returned as :class:`Unmapped`, one entry per field, so nothing is dropped
silently; the runtime fields the original wrote back into its files are
counted as ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.core.errors import UsageError

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_CONDITION = re.compile(r"""^\s*repo\.(\w+)\s*(==|!=)\s*(['"])(.*)\3\s*$""")
_REPO_VAR = re.compile(r"\{\{\s*repo\.(\w+)\s*\}\}")
REPO_KEYS = {"name", "platform", "remote", "local", "default_branch", "language", "tags",
             "description"}  # fmt: skip
RUNTIME = ("status", "assigned_worker", "pipeline_stage", "initial_assignments")


@dataclass(frozen=True)
class Unmapped:
    """A field of the original with no equivalent in the specs, and what became of it."""

    source: str
    field: str
    note: str

    def __str__(self) -> str:
        return f"{self.source}: {self.field}: {self.note}"


@dataclass
class Imported:
    """The files to write (path relative to the control repo -> text) and what was left out."""

    files: dict[str, str] = field(default_factory=dict)
    unmapped: list[Unmapped] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)  # runtime field -> times seen
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> Repo spec
    comments: dict[str, list[str]] = field(default_factory=dict)  # name -> comment lines
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> original record
    paths: Mapping[str, str] = field(default_factory=dict)  # local as written -> path from root

    def skip(self, source: str, where: str, note: str) -> None:
        """Record one unmapped field."""
        self.unmapped.append(Unmapped(source, where, note))

    def ignore(self, name: str) -> None:
        """Count one runtime field."""
        self.ignored[name] = self.ignored.get(name, 0) + 1


def slug(text: str, limit: int = 63) -> str:
    """A valid object name from ``text``.

    Examples
    --------
    >>> slug("Staking_Automation v2"), slug("docs-site")
    ('staking-automation-v2', 'docs-site')
    """
    name = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:limit].rstrip("-")
    return name or "imported"


def document(
    kind: str,
    name: str,
    spec: Mapping[str, Any],
    comments: list[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """One YAML document, with ``# comments`` above it."""
    meta: dict[str, Any] = {"name": name} | ({"labels": dict(labels)} if labels else {})
    data = {"apiVersion": "orch/v1", "kind": kind, "metadata": meta, "spec": dict(spec)}
    text = yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)
    return "".join(f"# {line}\n" for line in comments or ()) + text


def add_repo(
    imp: Imported, source: str, record: Mapping[str, Any], clones: Mapping[str, str], where: str
) -> str | None:
    """Map one repository record (repos.json form) to a Repo spec; returns its name."""
    raw = record.get("name")
    if not isinstance(raw, str) or not raw:
        imp.skip(source, where, "a repository without a name; left out")
        return None
    name = slug(raw)
    comments = [f'imported from {source} ("{raw}")' if name != raw else f"imported from {source}"]
    if record.get("description"):
        comments.append(str(record["description"]))
    spec: dict[str, Any] = {}
    local, remote = record.get("local"), record.get("remote")
    if isinstance(local, str) and local in clones:
        spec["path"] = clones[local]
        if remote:
            comments.append(f"remote: {remote}")
    elif isinstance(remote, str) and remote:
        spec["url"] = remote
        if local:
            imp.skip(source, f"{where}.local", f"{local} is no git clone here; the Repo clones "
                     "the remote into clones/ instead")  # fmt: skip
    elif isinstance(local, str) and local:
        spec["path"] = imp.paths.get(local, local)
        imp.skip(source, f"{where}.local", f"{local} is no git clone here and there is no "
                 "remote: clone it there, or edit the Repo's path")  # fmt: skip
    else:
        imp.skip(source, where, "neither local nor remote; left out")
        return None
    if record.get("default_branch"):
        spec["defaultBranch"] = str(record["default_branch"])
    labels = {k: str(record[k]) for k in ("language", "platform") if record.get(k)}
    for tag in record.get("tags") or ():
        labels[f"tag.{slug(str(tag))}"] = "true"
    for key in sorted(set(record) - REPO_KEYS):
        imp.skip(source, f"{where}.{key}", "no Repo field for it")
    imp.repos[name] = spec
    imp.comments[name] = comments
    imp.records[name] = dict(record) | ({"labels": labels} if labels else {})
    return name


def map_repos(imp: Imported, data: Any, clones: Mapping[str, str]) -> None:
    """``repos.json``: ``{"repositories": [...]}``."""
    records = data.get("repositories") if isinstance(data, dict) else None
    if not isinstance(records, list):
        msg = 'repos.json: expected {"repositories": [...]}'
        raise UsageError(msg)
    for key in sorted(set(data) - {"repositories"}):
        imp.skip("repos.json", key, "not a repository; left out")
    for i, record in enumerate(records):
        if isinstance(record, dict):
            add_repo(imp, "repos.json", record, clones, f"repositories[{i}]")


def _holds(condition: str, record: Mapping[str, Any]) -> bool | None:
    """Whether ``repo.X == 'v'`` (or ``!=``) holds for ``record``; None when not understood."""
    m = _CONDITION.match(condition)
    if m is None:
        return None
    equal = str(record.get(m[1], "")) == m[4]
    return equal if m[2] == "==" else not equal


def _fill(text: str, record: Mapping[str, Any]) -> str:
    """``{{repo.X}}`` replaced by the record's value (the original's template syntax)."""
    return _REPO_VAR.sub(lambda m: str(record.get(m[1], m[0])), text)


def workflow_command(steps: list[Any], record: Mapping[str, Any]) -> str | None:
    """The steps of one workflow that hold for ``record``, as one shell command line."""
    parts = []
    for step in steps:
        condition = step.get("condition")
        if condition and not _holds(str(condition), record):
            continue
        if step.get("action") == "cd":
            target = _fill(str(step.get("target", "")), record)
            if target and target != str(record.get("local")):  # orch runs in the repo already
                parts.append(f"cd {target}")
        elif step.get("action") == "run" and step.get("command"):
            parts.append(_fill(str(step["command"]), record))
    return " && ".join(parts) if any(not p.startswith("cd ") for p in parts) else None


def map_workflows(imp: Imported, data: Any) -> None:
    """``workflows.json``: each repo gets the workflows with a step that holds for it."""
    flows = data.get("workflows") if isinstance(data, dict) else None
    if not isinstance(flows, dict):
        msg = 'workflows.json: expected {"workflows": {name: {steps: [...]}}}'
        raise UsageError(msg)
    for name, flow in flows.items():
        key = re.sub(r"[^a-z0-9_-]+", "-", str(name).lower()).strip("-")
        steps = flow.get("steps") if isinstance(flow, dict) else None
        if not key or not isinstance(steps, list):
            imp.skip("workflows.json", str(name), "no steps list; left out")
            continue
        for extra in sorted(set(flow) - {"steps"}):
            note = "orch run keeps each run's log under state/runs/" if extra == "log_file" else (
                "no Repo field for it")  # fmt: skip
            imp.skip("workflows.json", f"{name}.{extra}", note)
        for i, step in enumerate(steps):
            cond = step.get("condition") if isinstance(step, dict) else None
            if not isinstance(step, dict) or step.get("action") not in ("cd", "run"):
                imp.skip("workflows.json", f"{name}.steps[{i}]", "not a cd or run step; left out")
            elif cond and _holds(str(cond), {}) is None:
                imp.skip("workflows.json", f"{name}.steps[{i}].condition",
                         f'"{cond}" not understood; the step is left out')  # fmt: skip
        valid = [s for s in steps if isinstance(s, dict)]
        for repo, record in imp.records.items():
            command = workflow_command(valid, record)
            if command:
                imp.repos[repo].setdefault("workflows", {})[key] = command


def repos_file(imp: Imported) -> str:
    """``specs/imported-repos.yaml``: every Repo, labels from language, platform and tags."""
    docs = [
        document("Repo", name, spec, imp.comments.get(name), imp.records[name].get("labels"))
        for name, spec in imp.repos.items()
    ]
    return "---\n".join(docs)
