"""`orch describe WORKER`: everything orch knows about one worker, gathered in one place.

Its spec as resolved, where it lives (worktree, branch, base, ahead/behind in
one git call), every attempt (from state/events.jsonl and its state file),
its backup refs, its last events and the path of each run log. Reads only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.core.attempts import attempts
from reconciler.core.errors import DriverError, UnknownWorker
from reconciler.core.rows import status_rows
from reconciler.drivers.git import ahead_behind
from reconciler.drivers.git_backup import BACKUPS, backup_refs
from reconciler.loop import engine
from reconciler.loop.events import worker_events
from reconciler.loop.reconciler_info import reconciler_status
from reconciler.spec.describe import describe

LAST_EVENTS = 15


def describe_worker(root: Path, name: str) -> dict[str, Any]:
    """One worker as data (``orch describe --json``); UnknownWorker with close names."""
    desired = engine.load(root, require_env=False)
    observed = engine.snapshot(desired)
    known = observed.known_workers()
    if name not in desired.workers and name not in known:
        raise UnknownWorker(name, [*desired.workers, *known])
    running = reconciler_status(desired.state_dir)["running"] is not False
    rows = status_rows(desired, observed, engine.make_plan(desired, observed), reconciling=running)
    row = next((r for r in rows if r["name"] == name), None)
    state = observed.states.get(name)
    worker = desired.workers.get(name)
    spec = next((i for i in describe(desired, "workers")[2] if i["name"] == name), None)
    if worker is not None and spec is not None:
        spec["stages"] = [s.name for s in desired.pipelines[worker.pipeline].stages]
    repo = (Path(state.repo_path) if state and state.repo_path
            else desired.repos[worker.repo].local_path if worker else None)  # fmt: skip
    branch = worker.branch if worker else (state.branch if state else None)
    base = worker.base if worker else (state.base if state else None)
    events = worker_events(desired.state_dir, name)
    return {
        "name": name,
        "inSpecs": worker is not None,
        "status": row,
        "spec": spec,
        "repoPath": str(repo) if repo else None,
        "worktree": row["worktree"] if row else (state.worktree if state else None),
        "branch": branch,
        "base": base,
        **_git_facts(repo, name, branch, base, desired.config.git_timeout),
        "attempts": attempts(events, state),
        "restarts": state.restarts if state else 0,
        "restartsTotal": max(state.restarts, state.restarts_total) if state else 0,
        "events": events[-LAST_EVENTS:],
        "logs": _logs(desired.state_dir / "logs" / name),
        "stateFile": str(desired.state_dir / "workers" / f"{name}.json") if state else None,
    }


def _git_facts(
    repo: Path | None, name: str, branch: str | None, base: str | None, timeout: float
) -> dict[str, Any]:
    """Ahead/behind of the branch against its base, and the worker's backup refs."""
    facts: dict[str, Any] = {"ahead": None, "behind": None, "backups": [], "gitError": None}
    if repo is None:
        return facts
    try:
        if branch and base:
            facts["ahead"], facts["behind"] = ahead_behind(repo, base, branch, timeout)
    except DriverError as err:
        facts["gitError"] = str(err)
    try:
        mine = f"{BACKUPS}{name}/"  # names end in the backup's UTC time: sorted is oldest first
        refs = sorted((r[0], r[1]) for r in backup_refs(repo, timeout) if r[0].startswith(mine))
    except DriverError as err:
        facts["gitError"] = facts["gitError"] or str(err)
        refs = []
    facts["backups"] = [{"ref": ref, "commit": sha, "time": ref.rsplit("/", 1)[-1]}
                        for ref, sha in refs]  # fmt: skip
    return facts


def _logs(folder: Path) -> list[dict[str, Any]]:
    """Each run log of the worker (``<stage>-<attempt>.log``) with its size, oldest first."""
    found = []
    for path in folder.glob("*.log"):
        try:
            st = path.stat()
        except OSError:
            continue  # removed meanwhile
        found.append((st.st_mtime, str(path), st.st_size))
    return [{"path": p, "bytes": size} for _, p, size in sorted(found)]
