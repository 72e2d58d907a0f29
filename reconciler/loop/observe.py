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

import functools
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from reconciler.core import cpu_activity
from reconciler.core.errors import DriverError
from reconciler.core.model import Desired, WorkerState
from reconciler.core.observed import (
    PANE_FORMAT,
    Observed,
    Pane,
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
    remember_reflogs,
    repo_paths,
    worktree_lists,
)
from reconciler.loop.state_store import StateStore
from reconciler.loop.worker_files import read_owner, read_worker_files


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
    # tmux works while we read files (its answer for a thousand panes takes as long)
    listing = in_background(lambda: tmux.list_panes(PANE_FORMAT), "observe tmux")
    states = store.load_all()
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
            paths[name] = _path(state.worktree)
        elif worker:
            paths[name] = desired.worktree_path(worker)
    claimed = {str(path) for path in paths.values()}
    for listed_path in listed - claimed:  # worktrees of removed workers whose state was lost
        if Path(listed_path).is_relative_to(wt_root):
            owner = read_owner(Path(listed_path), cfg.fleet_name)
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
    return _path(state.log) if state and state.log else None


@functools.lru_cache(maxsize=16384)
def _path(text: str) -> Path:
    """``Path(text)``, made once: a pass makes two a worker, at ~3 µs each."""
    return Path(text)
