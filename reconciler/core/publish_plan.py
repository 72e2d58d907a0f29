"""A Succeeded worker's last step: push its branch and open a pull request (pure).

The phase stays Succeeded whatever happens here: a failed push or pull
request (no remote, auth, the hosting CLI's error) is part of the reason and
is tried again after a doubling delay (the worker's restart backoff). A new
commit on the branch (seen in ``git worktree list``) is pushed again.
"""

from __future__ import annotations

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.observed import Observed
from reconciler.core.restarts import error_delay
from reconciler.core.worker_view import WorkerResult, WorkerView

DONE = "all stages done"


def succeeded(v: WorkerView, observed: Observed) -> WorkerResult:
    """Every stage is done: stop the agent, mark Succeeded, publish when asked."""
    stops, down = v.halt("pipeline finished")
    acts = [*stops, *v.set_phase(Phase.SUCCEEDED, DONE)]
    step, note = publish_step(v, observed) if down else (None, "")
    if step is not None:
        acts.append(step)
    reason = f"{DONE}; {note}" if note else DONE
    return WorkerResult(tuple(acts), v.status(Phase.SUCCEEDED, reason))


def branch_head(v: WorkerView, observed: Observed) -> str | None:
    """The worker's branch tip as ``git worktree list`` showed it this pass."""
    path = v.s.repo_path if v.s else ""
    for entry in observed.worktrees.get(path, ()):
        if entry.branch == v.w.branch:
            return entry.head
    return None


def publish_step(v: WorkerView, observed: Observed) -> tuple[Action | None, str]:
    """The publish action due now (or None), and what the status should say of publishing."""
    w, s = v.w, v.s
    if w.publish is None or s is None:
        return None, ""
    head = branch_head(v, observed)
    wants_pr = w.publish.pull_request is not None
    pushed = bool(s.published) and (head is None or s.published == head)
    if pushed and (s.pr_url or not wants_pr):
        return None, f"pull request {s.pr_url}" if s.pr_url else f"pushed {w.branch}"
    if s.publish_errors and s.publish_error_at is not None:
        delay = error_delay(s.publish_errors, s.publish_error, w.restart_policy)
        retry_at = s.publish_error_at + delay
        if v.now < retry_at:
            wait = int(retry_at - v.now + 0.999)
            return None, f"publish failed: {s.publish_error}; retry in {wait}s"
    what = f"push {w.branch}" + (" and open a pull request" if wants_pr else "")
    if not w.publish.push and not wants_pr:
        return None, ""
    return Action(Verb.PUBLISH, w.name, what), f"publishing: {what}"
