"""What one worker leaves on disk: its ``.orch/`` folder, signals, progress, run log, reflog.

A few ``stat`` calls per worker and one listing of ``.orch/`` (a file absent
costs nothing more); the files' contents are read only where they matter (a
failure's summary, the owner marker of a worktree with no state file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from reconciler.core import claude_stream, hooks
from reconciler.core.agent_command import (
    HOOKS_FILE,
    OWNER_FILE,
    PROGRESS_FILE,
    SETUP_DONE_FILE,
    SETUP_FAILED_FILE,
    SIGNALS_DIR,
)
from reconciler.core.observed import Signal, WorkerFiles
from reconciler.loop.activity import ActivityTracker
from reconciler.loop.repo_worktrees import commit_mtime

MAX_SIGNAL_BYTES = 64 * 1024


def read_owner(worktree: Path, fleet: str) -> str | None:
    """The worker named in ``.orch/owner.json``, if that file says ``fleet`` made it."""
    try:
        data = json.loads((worktree / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fleet") != fleet:
        return None
    name = data.get("worker")
    return name if isinstance(name, str) else None


def _first_line(path: Path) -> str | None:
    """The first line of a small file orch wrote, or None when it is absent."""
    try:
        with path.open("rb") as fh:
            text = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    return text.strip().splitlines()[0] if text.strip() else ""


def _mtime(path: str | Path) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def read_signals(worktree: Path) -> dict[str, Signal]:
    """``.orch/signals/<stage>.done|.failed`` with their summaries (``.failed`` wins)."""
    folder = f"{worktree}/{SIGNALS_DIR}"
    out: dict[str, Signal] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for entry in entries:
        stage, dot, kind = entry.name.rpartition(".")
        if not dot or kind not in ("done", "failed") or (stage in out and kind == "done"):
            continue
        try:
            mtime = entry.stat().st_mtime
            body = ""
            if kind == "failed":  # only a failure's summary is ever shown
                with open(entry.path, "rb") as fh:
                    body = fh.read(MAX_SIGNAL_BYTES).decode("utf-8", "replace")
        except OSError:
            continue
        out[stage] = Signal(kind, _summary_of(body), mtime)
    return out


def _summary_of(body: str) -> str:
    text = body.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict) and isinstance(data.get("summary"), str):
            return str(data["summary"])
    return text


def read_worker_files(
    worktree: Path,
    listed: bool,
    log: Path | None,
    name: str,
    quiet: tuple[str, ...],
    tracker: ActivityTracker,
    need_marker: bool = True,
    fleet: str = "orch",
    claude: tuple[str, int] | None = None,
    interactive: bool = False,
) -> WorkerFiles:
    """Stat and read what one worker leaves on disk.

    ``need_marker`` False skips reading ``.orch/owner.json``: a worker with a
    state file is known without it. ``claude``: (stage, attempt) of a claude
    worker, whose stream-json (unless ``interactive``: a TUI writes none) and
    hook events are read too.
    """
    log_stat = _stat(log)
    log_activity, stream = tracker.log_activity(name, log, quiet, log_stat,
                                                 claude is not None and not interactive)
    if not (listed or (worktree / ".git").exists()):
        return WorkerFiles(path=str(worktree), activity=log_activity)
    present = _present(worktree)  # one listing of .orch/ saves a stat or open per file absent
    signals = read_signals(worktree) if _name(SIGNALS_DIR) in present else {}
    progress = _mtime(f"{worktree}/{PROGRESS_FILE}") if _name(PROGRESS_FILE) in present else None
    hook = tracker.hook_facts(name, worktree / HOOKS_FILE, *claude) if claude else None
    last_hook = hook.get("last") if hook else None
    times = [progress, commit_mtime(worktree), log_activity, last_hook,
             *(s.mtime for s in signals.values())]  # fmt: skip
    known = [t for t in times if t is not None]
    failed = _name(SETUP_FAILED_FILE) in present
    return WorkerFiles(
        worktree_exists=True,
        path=str(worktree),
        marker=read_owner(worktree, fleet) if need_marker else name,
        setup_done=_name(SETUP_DONE_FILE) in present,
        setup_failed=_first_line(worktree / SETUP_FAILED_FILE) if failed else None,
        signals=signals,
        progress_mtime=progress,
        log_size=log_stat.st_size if log_stat else None,
        log_mtime=log_stat.st_mtime if log_stat else None,
        activity=max(known) if known else None,
        stream=claude_stream.facts_of(stream) if stream is not None else None,
        hooks=hooks.facts_of(hook) if hook is not None else None,
    )


def _name(rel: str) -> str:
    return rel.rpartition("/")[2]


def _present(worktree: Path) -> set[str]:
    """The names in the worktree's .orch/ folder (none when it cannot be listed)."""
    try:
        with os.scandir(f"{worktree}/.orch") as entries:
            return {entry.name for entry in entries}
    except OSError:
        return set()


def _stat(path: Path | None) -> os.stat_result | None:
    if path is None:
        return None
    try:
        return os.stat(path)
    except OSError:
        return None
