"""`orch import`: the original orchestrator's JSON files in, spec files out (pure).

The caller reads the files (name -> parsed JSON) and tells which local clones
exist (:func:`locals_named` lists the paths to look at); :func:`import_original`
returns the files to write and what was not mapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.spec.original import Imported, map_repos, map_workflows, repos_file
from reconciler.spec.original_issues import map_issues

REPOS_FILE = "specs/imported-repos.yaml"


def is_issues_file(name: str) -> bool:
    """Whether ``name`` is an issues file (``*-issues.json``, or ``issues.json``)."""
    return name.endswith("-issues.json") or name == "issues.json"


def locals_named(sources: Mapping[str, Any]) -> list[str]:
    """Every local clone path the files name (``local``; ``path``, ``repo_path`` of issues)."""
    found: list[Any] = []
    repos = sources.get("repos.json")
    if isinstance(repos, dict) and isinstance(repos.get("repositories"), list):
        found += [r.get("local") for r in repos["repositories"] if isinstance(r, dict)]
    for name, data in sources.items():
        if not is_issues_file(name) or not isinstance(data, dict):
            continue
        found.append(data.get("repo_path"))
        if isinstance(data.get("repos"), dict):
            found += [r.get("path") for r in data["repos"].values() if isinstance(r, dict)]
    return sorted({p for p in found if isinstance(p, str) and p})


def import_original(
    sources: Mapping[str, Any],
    clones: Mapping[str, str],
    agent: str = "claude",
    paths: Mapping[str, str] | None = None,
) -> Imported:
    """The specs for ``sources`` (file name -> parsed JSON).

    ``clones``: local path as the JSON writes it -> the Repo ``path`` to write,
    for the clones that exist; a Repo whose clone is missing gets its remote as
    ``url``. Files other than repos.json, workflows.json and ``*-issues.json``
    are listed as unmapped. ``paths``: local path as written -> the path from
    the control repo, for every local (a missing clone without a remote keeps
    it, so validation names where it looked).
    """
    imp = Imported(paths=dict(paths or {}))
    if "repos.json" in sources:
        map_repos(imp, sources["repos.json"], clones)
    for name in sorted(sources):
        if is_issues_file(name):
            map_issues(imp, name, sources[name], clones, agent)
        elif name not in ("repos.json", "workflows.json"):
            imp.skip(name, "(file)", "not a file orch imports; left out")
    if "workflows.json" in sources:
        map_workflows(imp, sources["workflows.json"])
    if imp.repos:
        imp.files[REPOS_FILE] = repos_file(imp)
    return imp
