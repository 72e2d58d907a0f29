"""Schema-valid documents -> frozen model objects (no checks across objects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.core.duration import parse_duration
from reconciler.core.model import (
    Agent,
    Pipeline,
    Publish,
    PullRequest,
    Repo,
    RestartPolicy,
    Source,
    Stage,
    Worker,
    stable_hash,
)
from reconciler.core.profiles import profile_agent
from reconciler.spec.paths import resolve
from reconciler.spec.yamlsource import Document

DEFAULT_STALL = "15m"
DEFAULT_TIMEOUT = "30m"
DEFAULT_TOOL_TIMEOUT = "30m"
CLONES_DIR = "clones"  # where url Repos are cloned, beside worktrees/ (gitignored)


def source_of(doc: Document) -> Source:
    """Where ``doc`` starts."""
    line, col = doc.mark(("metadata", "name"))
    return Source(doc.path, line, col)


def build_repo(doc: Document, root: Path) -> Repo:
    """A Repo from its document; a ``url`` repo is cloned to ``clones/<name>``.

    Never under state/: the clone holds the workers' branches and backup refs.
    """
    name, spec = doc.data["metadata"]["name"], doc.data["spec"]
    path = resolve(root, spec["path"]) if "path" in spec else root / CLONES_DIR / name
    return Repo(
        name=name,
        path=path,
        url=spec.get("url"),
        default_branch=spec.get("defaultBranch", "main"),
        setup=tuple(spec.get("setup", ())),
        workflows=dict(spec.get("workflows", {})),
        source=source_of(doc),
    )


def build_agent(doc: Document) -> Agent:
    """An Agent from its document: its own command, or a built-in profile with options."""
    spec = doc.data["spec"]
    env = {str(k): str(v) for k, v in spec.get("env", {}).items()}
    if spec.get("profile"):
        return profile_agent(
            doc.data["metadata"]["name"],
            spec["profile"],
            spec,
            env,
            source_of(doc),
            tuple(spec.get("quietPatterns", ())),
        )
    resume = spec.get("resume")
    return Agent(
        name=doc.data["metadata"]["name"],
        command=tuple(spec["command"]),
        resume=tuple(resume) if resume else None,
        env=env,
        quiet_patterns=tuple(spec.get("quietPatterns", ())),
        session_id_from=spec.get("sessionIdFrom"),
        source=source_of(doc),
        interactive=bool(spec.get("interactive", False)),
        claude_config_dir=spec.get("claudeConfigDir"),
    )


def build_pipeline(doc: Document) -> Pipeline:
    """A Pipeline from its document."""
    stages = tuple(
        Stage(
            name=s["name"],
            prompt=s["prompt"],
            stall_timeout=parse_duration(s.get("stallTimeout", DEFAULT_STALL)),
            timeout=parse_duration(s.get("timeout", DEFAULT_TIMEOUT)),
            done_when=s.get("doneWhen", "signal"),
            restart_prompt=s.get("restartPrompt"),
            tool_timeout=parse_duration(s.get("toolTimeout", DEFAULT_TOOL_TIMEOUT)),
        )
        for s in doc.data["spec"]["stages"]
    )
    return Pipeline(doc.data["metadata"]["name"], stages, source_of(doc))


def build_worker(
    doc: Document, repo: Repo | None, specs: dict[str, dict[str, Any]], worker_set: str | None
) -> Worker:
    """A Worker from its document; ``specs`` holds the raw agent/pipeline specs to hash."""
    meta, spec = doc.data["metadata"], doc.data["spec"]
    name = meta["name"]
    policy = spec.get("restartPolicy", {})
    backoff = policy.get("backoff", {})
    branch = spec.get("branch") or f"orch/{name}"
    base = spec.get("base") or (repo.default_branch if repo else "main")
    vars_ = dict(spec.get("vars", {}))
    return Worker(
        name=name,
        repo=spec["repo"],
        pipeline=spec["pipeline"],
        agent=spec["agent"],
        branch=branch,
        base=base,
        vars=vars_,
        restart_policy=RestartPolicy(
            max_restarts=int(policy.get("maxRestarts", 10)),
            backoff_initial=parse_duration(backoff.get("initial", "10s")),
            backoff_max=parse_duration(backoff.get("max", "5m")),
        ),
        suspend=bool(spec.get("suspend", False)),
        depends_on=tuple(spec.get("dependsOn", ())),
        host=spec.get("host"),
        labels=dict(meta.get("labels", {})),
        source=source_of(doc),
        worker_set=worker_set,
        adopt_branch=bool(spec.get("adoptBranch", False)),
        budget_usd=float(spec["budget"]["usd"]) if spec.get("budget") else None,
        publish=build_publish(spec.get("publish")),
        item=doc.item,
        placement_hash=stable_hash({"repo": spec["repo"], "branch": branch, "base": base}),
        run_hashes={
            "agent": stable_hash(specs.get(f"Agent/{spec['agent']}")),
            "pipeline": stable_hash(specs.get(f"Pipeline/{spec['pipeline']}")),
            "vars": stable_hash(vars_),
        },
    )


def build_publish(spec: dict[str, Any] | None) -> Publish | None:
    """A worker's ``publish`` section (schema-valid), or None when it has none."""
    if spec is None:
        return None
    pr = spec.get("pullRequest")
    request = None
    if pr is not None:
        request = PullRequest(
            title=pr.get("title", PullRequest.title),
            body=pr.get("body"),
            draft=bool(pr.get("draft", False)),
            base=pr.get("base"),
        )
    return Publish(push=bool(spec.get("push", True)), pull_request=request)
