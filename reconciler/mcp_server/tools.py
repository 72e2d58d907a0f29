"""The MCP tools: one small method each, calling the loop functions the CLI calls.

Every tool answers JSON-ready data, or raises ``ToolError`` with the one line
the CLI would print (an unknown worker, invalid specs, a held lock): the
client sees a tool error and the server goes on. Tools that change things
run one at a time; restart, suspend and resume go through
:func:`reconciler.loop.requests.perform`, as `orch restart` and `orch suspend`
do, so a running watcher applies them from its request queue.

A new tool is a method here and its name in :data:`TOOLS` (the tools over
repos, workflows and tasks are in :mod:`~reconciler.mcp_server.control_tools`).
"""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Concatenate, ParamSpec, Protocol, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from reconciler.core.errors import LockHeld, OrchError, SpecErrors


class Rooted(Protocol):
    """A set of tools over one control repo (the ``guarded`` decorator logs under its state/)."""

    root: Path


P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S", bound=Rooted)

WORKER_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
Worker = Annotated[
    str, Field(pattern=WORKER_NAME, description="The worker's name, as `orch status` lists it.")
]
Commit = Annotated[
    bool, Field(description="Commit the edited spec file (false: only edit it).")
]
MUTATING = threading.Lock()  # one changing tool at a time in this server


def guarded(fn: Callable[Concatenate[S, P], T]) -> Callable[Concatenate[S, P], T]:
    """Turn orch's errors into tool errors a model can read; log internal ones."""

    @functools.wraps(fn)
    def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(self, *args, **kwargs)
        except SpecErrors as err:
            lines = [str(e) for e in err.errors]
            raise ToolError("\n".join([*lines, f"{len(lines)} problem(s) in the specs"])) from None
        except OrchError as err:
            raise ToolError(str(err)) from None
        except Exception as err:  # noqa: BLE001 - one line for the model, the rest in a file
            log = self.root / "state" / "debug.log"
            try:
                with log.open("a") as fh:
                    fh.write("".join(traceback.format_exception(err)))
            except OSError:
                log = Path("(unwritable)")
            msg = f"internal error: {type(err).__name__}: {err} (details in {log})"
            raise ToolError(msg) from None

    return call


class FleetTools:
    """The tools of one control repo."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @guarded
    def fleet_status(self) -> dict[str, Any]:
        """Every worker's phase, stage, attempt, restarts, last activity, cost and reason;
        windows on orch's tmux socket that are not this fleet's; the specs' revision."""
        from reconciler.loop.views import fleet_status

        return fleet_status(self.root)

    @guarded
    def worker_status(
        self,
        worker: Worker,
        lines: Annotated[int, Field(ge=0, le=2000, description="Log lines to return.")] = 40,
    ) -> dict[str, Any]:
        """One worker's status row and the last lines of its current run log."""
        from reconciler.loop.views import worker_detail

        return worker_detail(self.root, worker, lines)

    @guarded
    def plan(self) -> dict[str, Any]:
        """What one reconcile pass would do now, action by action with its reason; changes
        nothing. ``pending``: workers on their way out whose next retry is due later."""
        from reconciler.core.rows import pending_teardowns
        from reconciler.loop.views import current_plan

        the_plan = current_plan(self.root)
        return {**the_plan.to_json(), "pending": pending_teardowns(the_plan)}

    @guarded
    def reconcile(self) -> dict[str, Any]:
        """Apply one reconcile pass now (provision, start, advance, restart, tear down) and
        return its events. Refused while `orch reconcile --watch` runs: it reconciles itself."""
        from reconciler.loop import engine

        with MUTATING:
            try:
                result = engine.reconcile(engine.load(self.root, remember=True))
            except LockHeld as held:
                msg = f"{held}; a running watcher reconciles by itself, use plan or fleet_status"
                raise ToolError(msg) from None
            except engine.PassBlocked as blocked:
                done = "; ".join(e.line() for e in blocked.result.events) or "nothing else to do"
                msg = f"{blocked} (`orch reconcile --allow-mass-prune` at a terminal); done: {done}"
                raise ToolError(msg) from None
        events = [e.to_json() for e in result.events]
        return {"events": events, "failed": sum(1 for e in result.events if not e.ok)}

    @guarded
    def restart_worker(
        self,
        worker: Worker,
        stage: Annotated[
            str | None, Field(description="Restart at this stage (default: the current one).")
        ] = None,
    ) -> dict[str, Any]:
        """Reset a worker's restart count and start its stage again now, with a restart
        prompt (as `orch restart`); a running watcher does it from its request queue."""
        return self._perform("restart", worker, stage=stage)

    @guarded
    def suspend_worker(self, worker: Worker, commit: Commit = True) -> dict[str, Any]:
        """Suspend a worker as `orch suspend` does: set spec.suspend: true in its spec file,
        commit that file alone, stop the agent; its worktree and branch stay."""
        return self._perform("suspend", worker, commit=commit)

    @guarded
    def resume_worker(self, worker: Worker, commit: Commit = True) -> dict[str, Any]:
        """Resume a suspended worker as `orch resume` does: spec.suspend: false, committed;
        the worker starts again where it stopped."""
        return self._perform("resume", worker, commit=commit)

    @guarded
    def render_report(
        self, commit: Annotated[bool, Field(description="Commit reports/ when it changed.")] = False
    ) -> dict[str, Any]:
        """Render the fleet's status report (reports/status.md by default) as `orch report`;
        read it as the resource orch://reports/status."""
        from reconciler.loop.views import report

        with MUTATING:
            return report(self.root, commit=commit).to_json()

    def _perform(
        self, op: str, worker: str, *, stage: str | None = None, commit: bool = True
    ) -> dict[str, Any]:
        """``op`` on ``worker`` here, or through the running watcher; a failure is a tool error."""
        from reconciler.loop.requests import Request, perform

        with MUTATING:
            outcome = perform(self.root, Request(op, (worker,), stage=stage, commit=commit))
        if outcome.failed:
            raise ToolError("\n".join(outcome.lines) or f"{op} {worker} failed")
        return {"done": list(outcome.lines)}


# The tools served, by name; each is the FleetTools method of that name.
TOOLS = (
    "fleet_status",
    "worker_status",
    "plan",
    "reconcile",
    "restart_worker",
    "suspend_worker",
    "resume_worker",
    "render_report",
)
