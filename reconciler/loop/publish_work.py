"""Publish a Succeeded worker: push its branch, find or open its pull request.

The planner decides when (:mod:`reconciler.core.publish_plan`); this carries it
out. A failure is written to the worker's publish fields (counted, retried
with backoff by the planner) and never touches its phase.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.core import forges
from reconciler.core.actions import Action, Verb
from reconciler.core.agent_command import render
from reconciler.core.errors import DriverError, OrchError, UsageError
from reconciler.core.model import PullRequest, Worker, WorkerState
from reconciler.core.rows import stage_text
from reconciler.drivers import forge
from reconciler.drivers.git import run_git
from reconciler.loop.pass_context import Handler, PassContext


def _publish(ap: PassContext, action: Action) -> dict[str, object]:
    w = ap.worker(action.worker)
    state = ap.state(w.name)
    repo = Path(state.repo_path) if state.repo_path else ap.desired.repos[w.repo].local_path
    try:
        head, remote, pr_url = _push_and_request(ap, w, state, repo)
    except (OrchError, OSError) as err:
        ap.save(replace(ap.state(w.name), publish_errors=state.publish_errors + 1,
                        publish_error=f"publish: {err}", publish_error_at=ap.clock()))  # fmt: skip
        raise
    ap.save(replace(ap.state(w.name), published=head, pr_url=pr_url or state.pr_url,
                    publish_errors=0, publish_error="", publish_error_at=None))  # fmt: skip
    return {"pushed": head[:12], "remote": remote, **({"pullRequest": pr_url} if pr_url else {})}


def _push_and_request(
    ap: PassContext, w: Worker, state: WorkerState, repo: Path
) -> tuple[str, str, str]:
    cfg = ap.desired.config
    head = run_git(repo, "rev-parse", "--verify", f"refs/heads/{w.branch}^{{commit}}",
                   timeout=cfg.git_timeout)  # fmt: skip
    remotes = run_git(repo, "remote", timeout=cfg.git_timeout).split()
    if not remotes:
        msg = f"no remote to push {w.branch} to: add one (git -C {repo} remote add origin URL)"
        raise UsageError(msg)
    remote = "origin" if "origin" in remotes else remotes[0]
    ref = f"refs/heads/{w.branch}"
    run_git(repo, "push", "--quiet", remote, f"{ref}:{ref}", timeout=cfg.network_timeout)
    assert w.publish is not None
    request = w.publish.pull_request
    if request is None:
        return head, remote, ""
    url = run_git(repo, "remote", "get-url", remote, timeout=cfg.git_timeout)
    return head, remote, _pull_request(ap, w, state, repo, url, request)


def _pull_request(
    ap: PassContext, w: Worker, state: WorkerState, repo: Path, url: str, request: PullRequest
) -> str:
    """The open request of the branch, or a new one (never a second)."""
    cli = forges.forge_for(url, forge.available())
    if cli is None:
        msg = f"pushed {w.branch}, but neither gh nor glab is on PATH to open the pull request"
        raise UsageError(msg)
    timeout = ap.desired.config.network_timeout
    found = forges.found_url(forge.run_cli(forges.find_argv(cli, w.branch), repo, timeout))
    if found:
        return found
    ctx = _context(ap, w, state)
    try:
        title = render(request.title, ctx).strip()
        body = render(request.body, ctx) if request.body is not None else str(ctx["report"])
    except Exception as err:  # a user's template can raise anything
        msg = f"publish.pullRequest template: {err}"
        raise UsageError(msg) from err
    argv = forges.create_argv(cli, branch=w.branch, base=request.base or w.base, title=title,
                              body=body, draft=request.draft)  # fmt: skip
    out = forge.run_cli(argv, repo, timeout)
    created = forges.created_url(out)
    if created is None:
        detail = f"printed no URL: {out.strip()[:200]}"
        raise DriverError(" ".join(argv[:3]), detail)
    return created


def _context(ap: PassContext, w: Worker, state: WorkerState) -> dict[str, Any]:
    from reconciler.loop.run_reports import report_text

    pipeline = ap.desired.pipelines[w.pipeline]
    row = {
        "name": w.name, "phase": state.phase, "reason": state.reason, "stage": state.stage,
        "stageIndex": len(pipeline.stages), "stages": len(pipeline.stages),
        "attempt": state.attempt, "restarts": state.restarts, "branch": w.branch,
        "repo": w.repo, "worktree": state.worktree or None,
        "costUsd": round(sum(state.costs.values()), 4) if state.costs else None,
        "pullRequest": state.pr_url or None,
    }  # fmt: skip
    row["stage_text"] = stage_text(row)
    return {
        "worker": w.name, "branch": w.branch, "base": w.base, "repo": w.repo,
        "vars": dict(w.vars), "item": w.item if w.item is not None else {},
        "report": report_text(ap.desired, row, state, ap.clock()),
    }  # fmt: skip


PUBLISH_HANDLERS: dict[Verb, Handler] = {Verb.PUBLISH: _publish}
