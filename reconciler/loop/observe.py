"""Take one snapshot of the world: the imperative half of observing.

One ``tmux list-panes -a`` for every window (run while the worktree metadata
git keeps under each repo's ``.git/worktrees/`` is read, as files: no git
process), a few ``stat`` calls per worker, one psutil sweep for the CPU time of
every live agent's process tree. The activity tracker remembers, in
state/activity.json, how far each run log was read, so that log lines
matching the Agent's quietPatterns (retries while an API fails) do not count
as progress.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from reconciler.core import claude_stream, cpu_activity, hooks
from reconciler.core.agent_command import (
    HOOKS_FILE,
    OWNER_FILE,
    PROGRESS_FILE,
    SETUP_DONE_FILE,
    SETUP_FAILED_FILE,
    SIGNALS_DIR,
)
from reconciler.core.errors import DriverError
from reconciler.core.model import Desired, WorkerState
from reconciler.core.observed import (
    PANE_FORMAT,
    Observed,
    Pane,
    Signal,
    WorkerFiles,
    parse_panes,
)
from reconciler.drivers import tmux_keys
from reconciler.drivers.git import count_range
from reconciler.drivers.tmux import Tmux
from reconciler.loop.accounts import load_accounts
from reconciler.loop.activity import ActivityTracker
from reconciler.loop.background import in_background
from reconciler.loop.repo_worktrees import (
    commit_mtime,
    remember_reflogs,
    repo_paths,
    worktree_lists,
)
from reconciler.loop.state_store import StateStore

MAX_SIGNAL_BYTES = 64 * 1024


def observe(
    desired: Desired,
    tmux: Tmux,
    store: StateStore,
    *,
    readonly: bool = True,
    now: float | None = None,
) -> Observed:
    """A snapshot of everything orch owns or should own under ``desired``.

    ``readonly``: write nothing (`orch plan` and `orch status`); a pass passes
    False, so that how far each run log was read is remembered (and each
    agent's CPU time). ``now``: the pass's time (default: the clock).
    """
    states = store.load_all()
    # tmux works while we read files
    listing = in_background(lambda: tmux.list_panes(PANE_FORMAT), "observe tmux")
    worktrees = worktree_lists(repo_paths(desired, states.values()))
    text = listing()
    panes = parse_panes(text)
    lost = [p for p in panes if p.exit_unknown and p.server_pid]
    if lost:  # the server missed an exit: nudge it, then look once more
        tmux.reap(lost[0].server_pid or 0)
        text = tmux.list_panes(PANE_FORMAT)
        panes = parse_panes(text)
    remember_reflogs(worktrees)
    cfg = desired.config
    names = (
        set(desired.workers)
        | set(states)
        | {
            p.worker
            for p in panes
            if p.worker and p.session == cfg.tmux_session and p.fleet == cfg.fleet_name
        }
    )
    wt_root = (desired.root / desired.config.worktrees_root).resolve()
    listed = {e.path for entries in worktrees.values() for e in entries if not e.prunable}
    unfinished = {e.path for entries in worktrees.values() for e in entries if e.unfinished}
    paths: dict[str, Path] = {}
    for name in names:
        worker = desired.workers.get(name)
        state = states.get(name)
        if state and state.worktree:
            paths[name] = Path(state.worktree)
        elif worker:
            paths[name] = desired.worktree_path(worker)
    claimed = {str(path) for path in paths.values()}
    for listed_path in listed - claimed:  # worktrees of removed workers whose state was lost
        if Path(listed_path).is_relative_to(wt_root):
            owner = _read_owner(Path(listed_path), cfg.fleet_name)
            if owner and owner not in paths:
                paths[owner] = Path(listed_path)
    tracker = ActivityTracker(desired.state_dir / "activity.json")
    files: dict[str, WorkerFiles] = {}
    for name, path in paths.items():
        worker = desired.workers.get(name)
        quiet = (
            desired.agents[worker.agent].quiet_patterns
            if worker and worker.agent in desired.agents
            else ()
        )
        log = _log_path(states.get(name))
        if str(path) in unfinished:  # nothing to read: no agent ever ran in it
            files[name] = WorkerFiles(path=str(path), unfinished=True)
            continue
        try:
            files[name] = read_worker_files(
                path,
                str(path) in listed,
                log,
                name,
                quiet,
                tracker,
                need_marker=name not in states,
                fleet=cfg.fleet_name,
                claude=_claude_attempt(desired, name, states.get(name)),
                interactive=bool(worker and worker.agent in desired.agents
                                 and desired.agents[worker.agent].interactive),
            )
        except OSError as err:  # e.g. permissions: this worker's problem, not the pass's
            files[name] = WorkerFiles(
                worktree_exists=str(path) in listed, path=str(path), unreadable=str(err)
            )
    _cpu_activity(desired, panes, tracker, files, time.time() if now is None else now,
                  measure=not readonly)
    if not readonly:
        tracker.save()
    _count_own_commits(desired, states, files)
    _read_screens(desired, tmux, panes, files)
    return Observed(
        tmux_up=text is not None,
        panes=panes,
        worktrees=worktrees,
        files=files,
        states=states,
        session=cfg.tmux_session,
        missing_repos=frozenset(n for n, r in desired.repos.items() if not r.local_path.exists()),
        fleet=cfg.fleet_name,
        corrupt=tuple((str(path), why) for path, why in store.corrupt),
        accounts=load_accounts(desired.state_dir),
    )


def _cpu_activity(
    desired: Desired,
    panes: Iterable[Pane],
    tracker: ActivityTracker,
    files: dict[str, WorkerFiles],
    now: float,
    measure: bool,
) -> None:
    """Each live agent's CPU activity in its files: measured in one sweep when ``measure``
    and the last sweep is older than :func:`cpu_activity.sweep_interval`, else as the
    marks of the last sweep say (`orch status` and `orch plan` never sweep).

    Off with ``reconcile.cpuActivity: 0``: no sweep at all.
    """
    cfg = desired.config
    if cfg.cpu_activity <= 0:
        return
    pids = {
        p.worker: p.pane_pid
        for p in panes
        if p.worker in files and not p.dead
        and p.session == cfg.tmux_session and p.fleet == cfg.fleet_name
    }  # fmt: skip
    stalls = (s.stall_timeout for p in desired.pipelines.values() for s in p.stages)
    last = tracker.last_cpu_sweep()
    if measure and pids and (last is None or now - last >= cpu_activity.sweep_interval(stalls)):
        from reconciler.drivers.proc import tree_cpu_by_root  # psutil: only when sweeping

        tracker.set_cpu_sweep(now)
        seconds = tree_cpu_by_root(set(pids.values()))
        for name, pid in pids.items():
            if pid in seconds:  # else it ended since tmux listed it
                step = cpu_activity.step(tracker.cpu_mark(name), pid, seconds[pid], now,
                                         cfg.cpu_activity)  # fmt: skip
                tracker.set_cpu_mark(name, step)
    for name, pid in pids.items():
        mark = tracker.cpu_mark(name)
        if mark is not None and mark.pid == pid and mark.active_at is not None:
            files[name] = replace(files[name], cpu_active=mark.active_at)


def _read_screens(
    desired: Desired, tmux: Tmux, panes: Iterable[Pane], files: dict[str, WorkerFiles]
) -> None:
    """The screen of each live interactive agent no prompt reached yet (one capture each).

    A first-run question orch did not pre-answer stops such an agent before its
    hooks say anything; the screen is the only place it shows.
    """
    cfg = desired.config
    for pane in panes:
        worker = desired.workers.get(pane.worker or "")
        if (worker is None or pane.dead or pane.session != cfg.tmux_session
                or pane.fleet != cfg.fleet_name or worker.name not in files):  # fmt: skip
            continue
        agent = desired.agents.get(worker.agent)
        hook = files[worker.name].hooks
        if agent is None or not agent.interactive or (hook and hook.prompted):
            continue
        try:
            text = tmux_keys.screen(tmux, pane.pane_id)
        except DriverError:
            continue  # the window went away meanwhile: the next pass sees it
        files[worker.name] = replace(files[worker.name], screen=text)


def _claude_attempt(
    desired: Desired, name: str, state: WorkerState | None
) -> tuple[str, int] | None:
    """(stage, attempt) of a claude worker's current attempt, whose output orch reads."""
    worker = desired.workers.get(name)
    agent = desired.agents.get(worker.agent) if worker else None
    if agent is None or agent.profile != "claude" or state is None or not state.stage:
        return None
    return state.stage, state.attempt


def _count_own_commits(
    desired: Desired, states: dict[str, WorkerState], files: dict[str, WorkerFiles]
) -> None:
    """For a worker whose base alone changed: how many commits its branch has of its own.

    One git call per such worker (rare: a spec edit), none otherwise.
    """
    for name, w in desired.workers.items():
        s, f = states.get(name), files.get(name)
        if not (s and f and f.worktree_exists and s.base and s.base != w.base):
            continue
        if (s.repo, s.branch) != (w.repo, w.branch) or not s.repo_path:
            continue
        try:
            ahead = count_range(s.repo_path, s.base, s.branch, timeout=desired.config.git_timeout)
        except DriverError:
            continue
        files[name] = replace(f, own_commits=ahead)


def _log_path(state: WorkerState | None) -> Path | None:
    return Path(state.log) if state and state.log else None


def _read_owner(worktree: Path, fleet: str) -> str | None:
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
        marker=_read_owner(worktree, fleet) if need_marker else name,
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
