"""Desired objects as table rows and JSON-ready dicts for `orch get` (pure)."""

from __future__ import annotations

from typing import Any

from reconciler.core.model import Desired
from reconciler.core.redact import redact_env


def describe(
    desired: Desired, kind: str
) -> tuple[list[str], list[list[Any]], list[dict[str, Any]]]:
    """Headers, rows and JSON items for ``kind`` (workers, repos, pipelines, agents)."""
    if kind == "workers":
        items: list[dict[str, Any]] = [
            {
                "name": w.name,
                "repo": w.repo,
                "pipeline": w.pipeline,
                "agent": w.agent,
                "branch": w.branch,
                "base": w.base,
                "workerSet": w.worker_set,
                "suspend": w.suspend,
                "dependsOn": list(w.depends_on),
                "host": w.host,
                "vars": dict(w.vars),
                "labels": dict(w.labels),
                "source": f"{w.source.path}:{w.source.line}",
            }
            for w in desired.workers.values()
        ]
        headers = ["NAME", "REPO", "PIPELINE", "AGENT", "BRANCH", "BASE", "SET"]
        keys = ["name", "repo", "pipeline", "agent", "branch", "base", "workerSet"]
    elif kind == "repos":
        items = [
            {
                "name": r.name,
                "path": str(r.path) if r.path else None,
                "url": r.url,
                "defaultBranch": r.default_branch,
                "setup": list(r.setup),
                "workflows": dict(r.workflows),
            }
            for r in desired.repos.values()
        ]
        headers, keys = (
            ["NAME", "PATH", "URL", "DEFAULT-BRANCH"],
            ["name", "path", "url", "defaultBranch"],
        )
    elif kind == "pipelines":
        items = [
            {
                "name": p.name,
                "stages": [
                    {
                        "name": s.name,
                        "prompt": s.prompt,
                        "stallTimeout": s.stall_timeout,
                        "timeout": s.timeout,
                        "doneWhen": s.done_when,
                    }
                    for s in p.stages
                ],
            }
            for p in desired.pipelines.values()
        ]
        headers, keys = ["NAME", "STAGES"], ["name", "stageNames"]
        for item in items:
            item["stageNames"] = " -> ".join(s["name"] for s in item["stages"])
    else:
        items = [
            {
                "name": a.name,
                "command": list(a.command),
                "resume": list(a.resume) if a.resume else None,
                "env": redact_env(a.env),
                "quietPatterns": list(a.quiet_patterns),
                "sessionIdFrom": a.session_id_from,
                "profile": a.profile or None,
            }
            for a in desired.agents.values()
            if not a.builtin  # `orch agents` lists the profiles too
        ]
        headers, keys = ["NAME", "COMMAND"], ["name", "commandLine"]
        for item in items:
            item["commandLine"] = " ".join(item["command"])
    rows = [[item.get(k) for k in keys] for item in items]
    for item in items:
        item.pop("stageNames", None)
        item.pop("commandLine", None)
    return headers, rows, items
