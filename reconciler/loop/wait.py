"""`orch wait`: block until workers are final (Succeeded, Failed, Blocked), reading only.

It never reconciles: phases move while `orch reconcile --watch` runs (or
whenever someone runs `orch reconcile`), and this only watches them move. The
status is computed again when a worker's state file or the event log changed
(a few ``stat`` calls per poll), and every ``REFRESH`` seconds regardless.
When no watcher runs, it says so once: then nothing changes by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.errors import UsageError
from reconciler.core.model import Desired
from reconciler.core.outcome import FINAL_PHASES, WAIT_TIMEOUT_CODE, exit_code
from reconciler.core.plan import placed
from reconciler.core.rows import status_rows
from reconciler.loop import engine
from reconciler.loop.state_store import running_watcher

POLL = 0.25  # seconds between stat() rounds
REFRESH = 5.0  # seconds between full status computations when no file changed


@dataclass
class WaitResult:
    """How `orch wait` ended: the exit code and the named workers' last status rows."""

    code: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def timed_out(self) -> bool:
        """Whether --timeout ran out first."""
        return self.code == WAIT_TIMEOUT_CODE

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"code": self.code, "timedOut": self.timed_out, "workers": self.rows}


def chosen(desired: Desired, names: Sequence[str]) -> list[str]:
    """The workers to wait for: ``names``, checked, or every worker placed on this host."""
    host = engine.host_name(desired)
    here = [n for n, w in desired.workers.items() if placed(w, host, desired.config.run_unplaced)]
    if not names:
        return here
    for name in names:
        worker = desired.workers.get(name)
        if worker is None:
            msg = f'unknown worker "{name}"; `orch get workers` lists them'
            raise UsageError(msg)
        if name not in here:
            where = f"host {worker.host}" if worker.host else "the hosts with host.runUnplaced"
            msg = f'worker "{name}" runs on {where}, not on {host}: wait there'
            raise UsageError(msg)
    return list(dict.fromkeys(names))


def _rows(desired: Desired, names: list[str]) -> list[dict[str, Any]]:
    observed = engine.snapshot(desired)
    rows = status_rows(desired, observed, engine.make_plan(desired, observed))
    by_name = {str(r["name"]): r for r in rows}
    return [by_name.get(n, {"name": n, "phase": "Pending", "reason": ""}) for n in names]


def _fingerprint(desired: Desired, names: list[str]) -> tuple[tuple[str, int, int], ...]:
    """(file, mtime, size) of the workers' state files and the event log: what a pass writes."""
    paths = [desired.state_dir / "workers" / f"{n}.json" for n in names]
    paths.append(desired.state_dir / "events.jsonl")
    out = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            out.append((path.name, 0, -1))
        else:
            out.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def wait_for(
    root: Path,
    names: Sequence[str],
    *,
    timeout: float | None,
    notice: Callable[[str], None],
    on_final: Callable[[dict[str, Any]], None] = lambda row: None,
) -> WaitResult:
    """Wait until every chosen worker is final, or ``timeout`` seconds passed.

    ``notice`` gets lines for people (no watcher running, a watcher gone);
    ``on_final`` each worker's row when it becomes final. Raises UsageError
    for an unknown worker or one placed on another host.
    """
    desired = engine.load(root, require_env=False)
    wanted = chosen(desired, names)
    deadline = None if timeout is None else time.monotonic() + timeout
    told_final: set[str] = set()
    watcher: bool | None = None
    seen, refresh_at = None, 0.0
    rows: list[dict[str, Any]] = []
    while True:
        now = time.monotonic()
        stamp = _fingerprint(desired, wanted)
        if stamp != seen or now >= refresh_at:
            seen, refresh_at = stamp, now + REFRESH
            rows = _rows(desired, wanted)
            for row in rows:
                if row["phase"] in FINAL_PHASES and row["name"] not in told_final:
                    told_final.add(str(row["name"]))
                    on_final(row)
            code = exit_code(str(r["phase"]) for r in rows)
            if code is not None:
                return WaitResult(code, rows)
            watcher = _tell_watcher(desired, watcher, timeout, notice)
        if deadline is not None and now >= deadline:
            return WaitResult(WAIT_TIMEOUT_CODE, rows)
        time.sleep(POLL if deadline is None else max(0.0, min(POLL, deadline - now)))


def _tell_watcher(
    desired: Desired, before: bool | None, timeout: float | None, notice: Callable[[str], None]
) -> bool:
    """Whether a watcher runs now; says so when that changed (and at the start, when none)."""
    running = running_watcher(desired.state_dir) is not None
    if not running and before is not False:
        until = "until --timeout" if timeout is not None else "until interrupted (see --timeout)"
        notice(
            "no `orch reconcile --watch` is running for this control repo: phases change "
            f"only while one runs or when you run `orch reconcile`; waiting {until}"
        )
    elif running and before is False:
        notice("a watcher is running now")
    return running
