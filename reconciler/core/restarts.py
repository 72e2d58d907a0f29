"""Every retry is bounded: restarts of a stage, and failed actions (pure).

A stage may be restarted ``maxRestarts`` times (the count belongs to the stage:
it starts again only when a stage completes), with a doubling, capped delay in
between; then the worker is Failed. A failed action (a driver error: a base
that does not exist, a branch git refuses, a clone that fails) backs the worker
off the same way with its own counter, sooner when the error says it will pass
by itself (a lock file, a busy index, a timeout), and fails it after
``maxRestarts`` errors in a row with the command and its stderr as the reason.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.errors import is_transient
from reconciler.core.model import RestartPolicy, Worker, WorkerState
from reconciler.core.worker_view import WorkerResult, WorkerView

TRANSIENT_INITIAL = 1.0
TRANSIENT_MAX = 30.0
_MAX_DOUBLINGS = 64  # 2**64 times any initial delay is past any sane maximum


def backoff_delay(restarts: int, initial: float, maximum: float) -> float:
    """Seconds to wait before restart number ``restarts + 1``: doubling, capped.

    Clamped before it can overflow, whatever ``restarts`` is.

    Examples
    --------
    >>> [backoff_delay(n, 10, 60) for n in range(5)]
    [10.0, 20.0, 40.0, 60.0, 60.0]
    >>> backoff_delay(10**6, 10, 60)
    60.0
    """
    if restarts >= _MAX_DOUBLINGS:
        return float(maximum)
    return float(min(initial * 2**restarts, maximum))


def error_delay(errors: int, message: str, policy: RestartPolicy) -> float:
    """Seconds before retrying after failed action number ``errors`` (1-based).

    Examples
    --------
    >>> error_delay(1, "git fetch: timed out after 600s", RestartPolicy())
    1.0
    >>> error_delay(2, "git worktree add: fatal: invalid reference: x", RestartPolicy())
    20.0
    """
    n = max(0, errors - 1)
    if is_transient(message):
        return backoff_delay(n, TRANSIENT_INITIAL, min(TRANSIENT_MAX, policy.backoff_max))
    return backoff_delay(n, policy.backoff_initial, policy.backoff_max)


def error_spec(worker: Worker) -> str:
    """What a failed action's count is kept for: this exact spec of the worker."""
    return f"{worker.run_hash}:{worker.placement_hash}:{int(worker.adopt_branch)}"


def record_error(
    state: WorkerState, worker: Worker | None, message: str, now: float
) -> WorkerState:
    """``state`` after one more failed action; a changed spec starts the count again.

    Examples
    --------
    >>> s = record_error(WorkerState("w"), None, "create-worktree: boom", 5.0)
    >>> (s.errors, s.error, s.error_at)
    (1, 'create-worktree: boom', 5.0)
    >>> record_error(s, None, "again", 6.0).errors
    2
    """
    spec = error_spec(worker) if worker else ""
    errors = state.errors + 1 if state.error_spec == spec else 1
    return replace(state, errors=errors, error=message, error_at=now, error_spec=spec)


def error_gate(v: WorkerView) -> WorkerResult | None:
    """Hold a worker whose last action failed: back off, or fail after maxRestarts errors."""
    s, w = v.s, v.w
    if s is None or not s.errors or s.error_at is None or s.error_spec != error_spec(w):
        return None
    if s.phase == Phase.FAILED.value:  # settled (gave up, or refused): not backing off
        return None
    policy = w.restart_policy
    if s.errors > policy.max_restarts:
        reason = f"{s.error} (gave up after {s.errors} failed tries)"
        return WorkerResult(
            tuple(v.set_phase(Phase.FAILED, reason)), v.status(Phase.FAILED, reason)
        )
    retry_at = s.error_at + error_delay(s.errors, s.error, policy)
    if v.now < retry_at:
        wait = int(retry_at - v.now + 0.999)
        reason = f"{s.error}; retry {s.errors}/{policy.max_restarts} in {wait}s"
        return WorkerResult((), v.status(Phase.BACKOFF, reason))
    return None


def failure(v: WorkerView, reason: str) -> WorkerResult:
    """The attempt failed: back off and restart, or give up after maxRestarts."""
    s, w = v.s, v.w
    policy = w.restart_policy
    restarts = s.restarts if s else 0
    if s and s.phase == Phase.BACKOFF.value and s.backoff_until is not None:
        return _backing_off(v, s, policy)
    if restarts >= policy.max_restarts:
        final = f"{reason} (gave up after {restarts} restart(s))" if restarts else reason
        acts = v.stop(final) + v.set_phase(Phase.FAILED, final)
        return WorkerResult(tuple(acts), v.status(Phase.FAILED, final))
    delay = backoff_delay(restarts, policy.backoff_initial, policy.backoff_max)
    acts = [
        *v.stop(reason),
        Action(
            Verb.SET_PHASE,
            w.name,
            f"{reason}; restart in {delay:g}s",
            stage=v.stage.name if v.stage else None,
            phase=Phase.BACKOFF,
            backoff_until=v.now + delay,
            restarts=restarts,
        ),
    ]
    return WorkerResult(tuple(acts), v.status(Phase.BACKOFF, f"{reason}; restart in {delay:g}s"))


def _backing_off(v: WorkerView, s: WorkerState, policy: RestartPolicy) -> WorkerResult:
    """In Backoff: make sure the old agent is gone, wait out the delay, then restart."""
    acts, down = v.halt(s.reason)
    if not down:
        return v.waiting(acts, Phase.BACKOFF, s.reason)
    assert s.backoff_until is not None
    if v.now < s.backoff_until:
        wait = int(s.backoff_until - v.now + 0.999)
        return WorkerResult((), v.status(Phase.BACKOFF, f"{s.reason}; retrying in {wait}s"))
    restart = v.start(
        f"{s.reason}; restart {s.restarts + 1}/{policy.max_restarts}",
        restart=True,
        restarts=s.restarts + 1,
    )
    return WorkerResult((restart,), v.status(Phase.RUNNING, s.reason))
