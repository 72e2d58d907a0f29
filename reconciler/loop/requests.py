"""Commands while the watcher runs: requests in state/requests/, answered by the watcher.

`orch reconcile --watch` holds state/.lock for its whole life. `orch restart`,
`cleanup`, `suspend` and `resume` first try the lock (:func:`perform`):

- free: the command takes it and does the work itself;
- held by a watcher (its lock file says ``"watch": true``): the command writes
  ``state/requests/<id>.json`` (temporary file + rename), the watcher applies
  it in its loop, under the lock it holds (:func:`serve`), and writes
  ``<id>.result.json`` (ok, the lines a person would have seen, error); the
  command waits for that, removes it and prints it;
- held by a one-shot `orch reconcile`: the lock is tried again for a few
  seconds, then the usual "locked by" error (exit 3).

A request is claimed by removing its file, so a command that gives up
withdraws it the same way and it is never applied twice; a command whose
watcher stopped before claiming it takes it back and does the work itself.
The files themselves are :mod:`reconciler.loop.inbox`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.core.duration import utc_iso
from reconciler.core.errors import OrchError, SpecErrors, UsageError
from reconciler.loop import operations
from reconciler.loop.events import Event
from reconciler.loop.inbox import Inbox
from reconciler.loop.state_store import NAME, LockHeldBy, reconciler_lock

WAIT_SECONDS = 30.0  # how long a command waits for the watcher's answer
LOCK_RETRY_SECONDS = 5.0  # how long a command waits for a one-shot reconcile to finish
EXPIRE_SECONDS = 600.0  # a request older than this (no watcher took it) is not applied
OPS = ("restart", "cleanup", "suspend", "resume", "approve-prune", "takeover", "release")
MANY = ("cleanup", "approve-prune")  # ops on several workers at once


class BadRequest(OrchError):
    """A request file the watcher cannot read; it is answered and moved aside."""


class RequestFailed(OrchError):
    """The watcher refused a request, or did not answer it in time."""


def new_id(now: float) -> str:
    """A request id that sorts by time: ``20250101T120000123Z-1a2b3c``."""
    millis = int(now * 1000) % 1000
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}{millis:03d}Z-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Request:
    """One thing a person asked for: ``op`` on ``workers``, with its options."""

    op: str
    workers: tuple[str, ...]
    stage: str | None = None
    commit: bool = True
    author: str | None = None
    id: str = field(default_factory=lambda: new_id(time.time()))

    def describe(self) -> str:
        """``restart w1 --stage build``: the request as a command line."""
        extra = f" --stage {self.stage}" if self.stage else ""
        extra += " --no-commit" if self.op in ("suspend", "resume") and not self.commit else ""
        return f"{self.op} {' '.join(self.workers)}{extra}"

    def to_json(self) -> dict[str, Any]:
        """The request file's content."""
        return {
            "op": self.op,
            "workers": list(self.workers),
            "stage": self.stage,
            "commit": self.commit,
            "author": self.author,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "created": utc_iso(time.time()),
        }

    @classmethod
    def from_json(cls, data: Any, request_id: str) -> Request:
        """Read a request file's content; raise BadRequest naming what is wrong."""
        if not isinstance(data, dict):
            raise BadRequest("malformed request: not a JSON object")
        op, workers = data.get("op"), data.get("workers")
        if op not in OPS:
            msg = f"malformed request: op {op!r} is not one of {', '.join(OPS)}"
            raise BadRequest(msg)
        single = op not in MANY
        if (
            not isinstance(workers, list)
            or not workers
            or (single and len(workers) != 1)
            or not all(isinstance(w, str) and NAME.match(w) for w in workers)
        ):
            msg = f"malformed request: workers {workers!r} for {op}"
            raise BadRequest(msg)
        stage, commit, author = data.get("stage"), data.get("commit", True), data.get("author")
        if not isinstance(stage, str | None) or not isinstance(commit, bool):
            raise BadRequest("malformed request: stage must be a string, commit a boolean")
        if not isinstance(author, str | None):
            raise BadRequest("malformed request: author must be a string")
        return cls(op, tuple(workers), stage, commit, author, request_id)


def execute(root: Path, request: Request, *, watcher: bool) -> operations.Outcome:
    """Carry ``request`` out; the caller holds the lock (``watcher``: the watcher does)."""
    items: list[operations.Item]
    if request.op == "cleanup":
        items = list(operations.cleanup(root, request.workers))
    elif request.op == "approve-prune":
        items = operations.approve_prune(root, request.workers, watcher=watcher)
    elif request.op == "restart":
        items = list(operations.restart(root, request.workers[0], request.stage))
    elif request.op in ("takeover", "release"):
        from reconciler.loop import takeover

        act = takeover.takeover if request.op == "takeover" else takeover.release
        items = act(root, request.workers[0])
    else:
        items = operations.set_suspend(
            root,
            request.workers[0],
            request.op == "suspend",
            commit=request.commit,
            author=request.author,
            apply=not watcher,
        )
    return operations.Outcome.of(items)


def perform(
    root: Path,
    request: Request,
    *,
    wait: bool = True,
    timeout: float = WAIT_SECONDS,
    lock_retry: float = LOCK_RETRY_SECONDS,
) -> operations.Outcome:
    """Carry ``request`` out now: itself when the lock is free, else through the watcher.

    Raises
    ------
    LockHeldBy
        A one-shot reconcile kept the lock for ``lock_retry`` seconds (exit 3).
    RequestFailed
        The watcher refused the request, or did not answer within ``timeout``.
    """
    root = root.resolve()
    for name in request.workers:
        if not NAME.match(name):
            msg = f'"{name}" is not a worker name (lowercase letters, digits and "-")'
            raise UsageError(msg)
    if request.op in ("suspend", "resume") and request.commit and request.author is None:
        from reconciler.drivers.gitops import user_identity

        request = replace(request, author=user_identity(root))
    deadline = time.monotonic() + lock_retry
    while True:
        got = _under_lock(root, lambda: execute(root, request, watcher=False))
        if isinstance(got, operations.Outcome):
            return got
        if got.watch:
            inbox = Inbox(root / "state")
            inbox.submit(request.id, request.to_json())
            if not wait:
                return operations.Outcome(queued=request.id)
            return _await(root, inbox, request, timeout)
        if time.monotonic() >= deadline:
            raise got
        time.sleep(0.1)


def _under_lock(
    root: Path, fn: Callable[[], operations.Outcome]
) -> operations.Outcome | LockHeldBy:
    """``fn()`` holding the lock, or who holds it."""
    entered = False
    try:
        with reconciler_lock(root / "state"):
            entered = True
            return fn()
    except LockHeldBy as held:
        if entered:
            raise
        return held


def _await(root: Path, inbox: Inbox, request: Request, timeout: float) -> operations.Outcome:
    """The watcher's answer; the request back when the watcher stopped before taking it."""

    def take_back() -> operations.Outcome:
        if inbox.withdraw(request.id):
            return execute(root, request, watcher=False)
        answer = inbox.take_result(request.id)
        if answer is None:
            msg = f"the watcher stopped while applying {request.describe()}; see orch status"
            raise RequestFailed(msg)
        return _outcome(answer)

    deadline = time.monotonic() + timeout
    check_lock_at = time.monotonic() + 0.5
    try:
        while True:
            answer = inbox.take_result(request.id)
            if answer is not None:
                return _outcome(answer)
            now = time.monotonic()
            if now >= check_lock_at:  # the watcher may have stopped meanwhile
                check_lock_at = now + 0.5
                got = _under_lock(root, take_back)
                if isinstance(got, operations.Outcome):
                    return got
            if now >= deadline:
                raise _not_answered(inbox, request, timeout)
            time.sleep(0.05)
    except KeyboardInterrupt:
        inbox.withdraw(request.id)
        raise


def _not_answered(inbox: Inbox, request: Request, timeout: float) -> RequestFailed:
    what = f"{request.describe()} (request {request.id})"
    if inbox.withdraw(request.id):
        msg = f"the watcher did not take {what} within {timeout:.0f}s; withdrawn, nothing was done"
    else:
        msg = f"the watcher took {what} but did not answer within {timeout:.0f}s; see orch status"
    return RequestFailed(msg)


def _outcome(answer: dict[str, Any]) -> operations.Outcome:
    """A result file's content as an Outcome; a refusal raises RequestFailed."""
    if not answer.get("ok"):
        raise RequestFailed(str(answer.get("error") or "the watcher refused the request"))
    lines = tuple(str(line) for line in answer.get("lines", ()))
    return operations.Outcome(lines, bool(answer.get("failed")))


Emit = Callable[[Event | str], None]


def serve(root: Path, inbox: Inbox, emit: Emit, now: float) -> None:
    """Answer every pending request, oldest first (the watcher does, holding the lock).

    Never raises an Exception: a request that fails is answered with the reason,
    anything else becomes a warning, and the watcher goes on.
    """
    try:
        pending = inbox.pending()
        if now - inbox.cleaned_at > 60:
            inbox.clean_stale(now)
    except OSError as err:
        emit(f"warning: requests: {err}")
        return
    for path in pending:
        try:
            _serve_one(root, inbox, path, emit)
        except Exception as err:  # noqa: BLE001 - e.g. the answer could not be written
            emit(f"warning: request {path.name}: {type(err).__name__}: {err}")


def _serve_one(root: Path, inbox: Inbox, path: Path, emit: Emit) -> None:
    request_id = path.name.removesuffix(".json")
    try:
        age = time.time() - path.stat().st_mtime
        request = Request.from_json(json.loads(path.read_text()), request_id)
    except FileNotFoundError:
        return  # withdrawn by its command meanwhile
    except (OSError, ValueError, BadRequest) as err:
        reason = str(err) if isinstance(err, BadRequest) else f"malformed request: {err}"
        if inbox.set_aside(path):
            inbox.answer(request_id, _result(request_id, None, error=reason))
            emit(f"warning: request {request_id}: {reason}; moved aside to {path.name}.bad")
        return
    if not inbox.withdraw(request_id):
        return  # its command took it back first
    try:
        if age > EXPIRE_SECONDS:  # left while no watcher ran: too late to act on it
            msg = f"expired: the request is {age / 60:.0f} minutes old; not applied"
            raise RequestFailed(msg)
        outcome = execute(root, request, watcher=True)
    except Exception as err:  # noqa: BLE001 - answered, and the watcher goes on
        reason = _reason(err, root)
        inbox.answer(request_id, _result(request_id, request, error=reason))
        emit(f"request {request_id}: {request.describe()}: refused: {reason}")
        return
    inbox.answer(request_id, _result(request_id, request, outcome=outcome))
    for item in outcome.items:
        emit(item)
    emit(f"request {request_id}: {request.describe()}: done")


def _reason(err: Exception, root: Path) -> str:
    """One line for a refusal; the traceback of an internal error goes to state/debug.log."""
    if isinstance(err, SpecErrors) and err.errors:
        more = (
            f" (and {len(err.errors) - 1} more; see orch validate)" if len(err.errors) > 1 else ""
        )
        return f"specs invalid: {err.errors[0]}{more}"
    if isinstance(err, OrchError):
        return str(err)
    log = root / "state" / "debug.log"
    with contextlib.suppress(OSError), log.open("a") as fh:
        fh.write("".join(traceback.format_exception(err)))
    return f"internal error in the watcher: {type(err).__name__}: {err} (details in {log})"


def _result(
    request_id: str,
    request: Request | None,
    *,
    outcome: operations.Outcome | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """A result file's content."""
    return {
        "id": request_id,
        "op": request.op if request else None,
        "ok": error is None,
        "lines": list(outcome.lines) if outcome else [],
        "failed": bool(outcome and outcome.failed),
        "error": error,
        "finished": utc_iso(time.time()),
    }
