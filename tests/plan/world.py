"""Small builders of Desired and Observed, and a pure simulator of apply.

The planner tests build the world in Python: no YAML loading, no tmux, no git.
``make_desired`` fills in the hashes the spec loader computes (a worker's
``placement_hash`` over repo/branch/base and ``run_hashes`` over agent,
pipeline and vars), so a window whose ``@orch-spec`` equals ``worker.run_hash``
is up to date and a state whose ``placement_hash`` equals the worker's sits on
the right branch.

``simulate(desired, observed, actions, now)`` is what the world looks like
after ``reconciler.loop.apply`` (and ``reconciler.loop.start_agent``) carried out
``actions`` at ``now`` and nothing else happened: no agent wrote anything and
no clock moved.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.model import (
    Agent,
    Config,
    Desired,
    Pipeline,
    Repo,
    RestartPolicy,
    Source,
    Stage,
    Worker,
    WorkerSet,
    WorkerState,
    stable_hash,
)
from reconciler.core.observed import Observed, Pane, Signal, WorkerFiles, WorktreeEntry
from reconciler.core.worker_view import started_state

# A root that does not exist: the planner must never need the file system.
ROOT = Path("/nonexistent/orch-plan-tests")
HOST = "a"
SESSION = "orch"
NOW = 100_000.0
REPO = "r"
AGENT = "claude"
DEFAULT_PIPELINE = "p"
DEFAULT_STAGES = ("build", "test")
SRC = Source("specs/test.yaml", 1, 1)

_ids = itertools.count(1)


# -- desired ----------------------------------------------------------------


def make_stage(
    name: str,
    *,
    done_when: str = "signal",
    stall_timeout: float = 900.0,
    timeout: float = 1800.0,
    tool_timeout: float = 1800.0,
) -> Stage:
    """One pipeline stage (defaults: doneWhen signal, stall 15m, timeout 30m, toolTimeout 30m)."""
    prompt = f"playbooks/prompts/{name}.md.j2"
    return Stage(name, prompt, stall_timeout, timeout, done_when, tool_timeout=tool_timeout)


def make_pipeline(name: str, stages: Sequence[str | Stage | Mapping[str, Any]]) -> Pipeline:
    """A pipeline from stage names, Stage objects or compact dicts.

    A dict takes ``name`` and optionally ``doneWhen``, ``stallTimeout``, ``timeout``,
    ``toolTimeout``.
    """
    out = []
    for s in stages:
        if isinstance(s, Stage):
            out.append(s)
        elif isinstance(s, str):
            out.append(make_stage(s))
        else:
            out.append(
                make_stage(
                    s["name"],
                    done_when=s.get("doneWhen", "signal"),
                    stall_timeout=float(s.get("stallTimeout", 900.0)),
                    timeout=float(s.get("timeout", 1800.0)),
                    tool_timeout=float(s.get("toolTimeout", 1800.0)),
                )
            )
    return Pipeline(name, tuple(out), SRC)


def make_worker(
    name: str,
    *,
    pipeline: str = DEFAULT_PIPELINE,
    repo: str = REPO,
    agent: str = AGENT,
    branch: str | None = None,
    base: str = "main",
    vars: Mapping[str, Any] | None = None,  # noqa: A002 - the spec's own word
    max_restarts: int = 3,
    backoff_initial: float = 10.0,
    backoff_max: float = 300.0,
    suspend: bool = False,
    depends_on: Sequence[str] = (),
    host: str | None = None,
    worker_set: str | None = None,
) -> Worker:
    """A worker; its hashes are filled in by :func:`make_desired`."""
    return Worker(
        name=name,
        repo=repo,
        pipeline=pipeline,
        agent=agent,
        branch=branch or f"orch/{name}",
        base=base,
        vars=dict(vars or {}),
        restart_policy=RestartPolicy(max_restarts, backoff_initial, backoff_max),
        suspend=suspend,
        depends_on=tuple(depends_on),
        host=host,
        labels={},
        source=SRC,
        worker_set=worker_set,
    )


def placement_hash(repo: str, branch: str, base: str) -> str:
    """The loader's placement hash (spec/build.py)."""
    return stable_hash({"repo": repo, "branch": branch, "base": base})


def _pipeline_doc(p: Pipeline) -> list[dict[str, Any]]:
    return [dataclasses.asdict(s) for s in p.stages]


def with_hashes(w: Worker, pipelines: Mapping[str, Pipeline]) -> Worker:
    """``w`` with the placement and run hashes the spec loader would give it."""
    return replace(
        w,
        placement_hash=placement_hash(w.repo, w.branch, w.base),
        run_hashes={
            "agent": stable_hash({"agent": w.agent}),
            "pipeline": stable_hash(_pipeline_doc(pipelines[w.pipeline])),
            "vars": stable_hash(dict(w.vars)),
        },
    )


def make_desired(
    workers: Iterable[Worker],
    *,
    pipelines: Iterable[Pipeline] | None = None,
    sets: Mapping[str, tuple[int | None, Sequence[str]]] | None = None,
    parallelism: int | None = None,
    max_prune_fraction: float = 0.5,
    run_unplaced: bool = True,
    setup: Sequence[str] = (),
    url: str | None = None,
    staggered: bool = False,
    interactive: bool = False,
    config: Mapping[str, Any] | None = None,
) -> Desired:
    """A validated-looking Desired: one local repo, one agent, the given pipelines.

    ``sets`` maps a WorkerSet name to ``(parallelism, member names in item
    order)``; ``parallelism=N`` alone puts every worker in one set ``s``.
    """
    pipes = {p.name: p for p in (pipelines or [make_pipeline(DEFAULT_PIPELINE, DEFAULT_STAGES)])}
    ws_of: dict[str, str] = {}
    set_map = dict(sets or {})
    workers = list(workers)
    if parallelism is not None:
        set_map["s"] = (parallelism, [w.name for w in workers])
    for set_name, (_, members) in set_map.items():
        for m in members:
            ws_of[m] = set_name
    ws = {
        name: WorkerSet(name, par, tuple(members), SRC) for name, (par, members) in set_map.items()
    }
    ws_workers = {}
    for w in workers:
        w2 = with_hashes(replace(w, worker_set=ws_of.get(w.name, w.worker_set)), pipes)
        ws_workers[w.name] = w2
    repo = Repo(REPO, ROOT / "repos" / REPO, url, "main", tuple(setup), {}, SRC)
    agent = Agent(AGENT, ("claude", "-p"), None, {}, (), None, SRC, staggered=staggered,
                  interactive=interactive)  # fmt: skip
    cfg = Config(
        max_prune_fraction=max_prune_fraction, run_unplaced=run_unplaced, **dict(config or {})
    )
    return Desired(ROOT, cfg, {REPO: repo}, {AGENT: agent}, pipes, ws_workers, ws)


# -- observed ---------------------------------------------------------------

CURRENT = "<current>"  # sentinel: the value that matches the desired worker


def make_pane(
    worker: Worker | str | None,
    stage: str | None = None,
    attempt: int | None = 1,
    *,
    dead: bool = False,
    status: int | None = None,
    signal: int | None = None,
    spec: str | None = CURRENT,
    session: str = SESSION,
    name: str | None = None,
    activity: float = 0.0,
    window_id: str | None = None,
    fleet: str = "orch",
) -> Pane:
    """A tmux pane. ``worker=None`` is a window without ``@orch-worker`` (foreign).

    ``spec=CURRENT`` means ``worker.run_hash`` when ``worker`` is a Worker.
    """
    wname = worker.name if isinstance(worker, Worker) else worker
    if spec == CURRENT:
        spec = worker.run_hash if isinstance(worker, Worker) else None
    n = next(_ids)
    return Pane(
        session=session,
        window_id=window_id or f"@{n}",
        window_index=n,
        window_name=name or wname or "shell",
        pane_id=f"%{n}",
        pane_pid=10_000 + n,
        dead=dead,
        dead_status=status if dead else None,
        dead_signal=signal if dead else None,
        activity=activity,
        worker=wname,
        spec=spec if wname else None,
        stage=stage if wname else None,
        attempt=attempt if wname else None,
        fleet=fleet if wname else None,
    )


def dashboard(session: str = SESSION) -> Pane:
    """The dashboard window ``ensure-session`` creates (no @orch-worker)."""
    return make_pane(None, name="dashboard", session=session)


def make_signal(text: str, mtime: float = 0.0) -> Signal:
    """``"done"``, ``"failed"`` or ``"failed: <summary>"`` as a Signal."""
    kind, _, summary = text.partition(":")
    return Signal(kind.strip(), summary.strip(), mtime)


def make_files(
    name: str,
    *,
    worktree: bool = True,
    signals: Mapping[str, str | Signal] | None = None,
    activity: float | None = None,
    marker: str | None = CURRENT,
    setup_done: bool = True,
    setup_failed: str | None = None,
) -> WorkerFiles:
    """What the file system shows for one worker (signals only in a worktree)."""
    sigs = {k: v if isinstance(v, Signal) else make_signal(v) for k, v in (signals or {}).items()}
    return WorkerFiles(
        worktree_exists=worktree,
        marker=(name if marker == CURRENT else marker) if worktree else None,
        signals=sigs if worktree else {},
        activity=activity,
        setup_done=worktree and setup_done,
        setup_failed=setup_failed if worktree else None,
    )


def make_state(
    worker: Worker | str,
    phase: str | Phase = "Running",
    stage: str | None = None,
    attempt: int = 1,
    *,
    restarts: int = 0,
    reason: str = "",
    backoff_until: float | None = None,
    attempt_started_at: float | None = None,
    stage_started_at: float | None = None,
    placement: str | None = CURRENT,
    run_hashes: Mapping[str, str] | None = None,
    changed: Sequence[str] = (),
    **extra: Any,
) -> WorkerState:
    """A runtime state. ``placement``/``run_hashes`` default to the worker's own;

    ``changed`` names run-hash parts ("vars", "agent", "pipeline") that differ.
    """
    if isinstance(worker, Worker):
        name = worker.name
        ph = worker.placement_hash if placement == CURRENT else (placement or "")
        hashes = dict(worker.run_hashes if run_hashes is None else run_hashes)
        repo, branch, base = worker.repo, worker.branch, worker.base
    else:
        name = worker
        ph = "" if placement == CURRENT else (placement or "")
        hashes = dict(run_hashes or {})
        repo, branch, base = REPO, f"orch/{name}", "main"
    for part in changed:
        hashes[part] = f"old-{part}"
    return WorkerState(
        name=name,
        repo=repo,
        repo_path=str(ROOT / "repos" / repo),
        branch=branch,
        base=base,
        worktree=str(ROOT / "worktrees" / repo / name),
        placement_hash=ph,
        run_hashes=hashes,
        phase=phase.value if isinstance(phase, Phase) else phase,
        reason=reason,
        stage=stage,
        attempt=attempt,
        restarts=restarts,
        backoff_until=backoff_until,
        attempt_started_at=attempt_started_at,
        stage_started_at=stage_started_at,
        **extra,
    )


def make_observed(
    panes: Iterable[Pane] = (),
    files: Mapping[str, WorkerFiles] | None = None,
    states: Iterable[WorkerState] | Mapping[str, WorkerState] = (),
    *,
    session: str = SESSION,
    missing_repos: Iterable[str] = (),
) -> Observed:
    """An Observed snapshot; ``git worktree list`` entries follow ``files``.

    ``missing_repos``: url Repos whose clone is not on disk yet.
    """
    files = dict(files or {})
    st = dict(states) if isinstance(states, Mapping) else {s.name: s for s in states}
    return Observed(
        tmux_up=True,
        panes=tuple(panes),
        worktrees=_worktree_lists(files),
        files=files,
        states=st,
        session=session,
        missing_repos=frozenset(missing_repos),
    )


def _worktree_lists(files: Mapping[str, WorkerFiles]) -> dict[str, tuple[WorktreeEntry, ...]]:
    entries = [WorktreeEntry(str(ROOT / "repos" / REPO), "0" * 40, "main")]
    entries += [
        WorktreeEntry(str(ROOT / "worktrees" / REPO / name), "0" * 40, f"orch/{name}")
        for name, f in sorted(files.items())
        if f.worktree_exists
    ]
    return {str(ROOT / "repos" / REPO): tuple(entries)}


# -- the simulator ------------------------------------------------------------


def simulate(
    desired: Desired, observed: Observed, actions: Iterable[Action], now: float
) -> Observed:
    """The world after apply carried out ``actions`` at ``now`` (and nothing else moved).

    Mirrors reconciler/loop/apply.py and reconciler/loop/start_agent.py: every action acts on
    what orch owns (the window tagged ``@orch-worker`` in the fleet session),
    never on a foreign window.
    """
    panes = list(observed.panes)
    missing = set(observed.missing_repos)
    files = dict(observed.files)
    states = dict(observed.states)
    session = observed.session

    def owned(name: str) -> int | None:
        for i, p in enumerate(panes):
            if p.session == session and p.worker == name:
                return i
        return None

    for a in actions:
        name = a.worker
        if a.verb is Verb.ENSURE_SESSION:
            if not any(p.session == session for p in panes):
                panes.append(dashboard(session))
        elif a.verb is Verb.CLONE_REPO:
            missing.discard(a.repo or desired.workers[name].repo)
        elif a.verb is Verb.CREATE_WORKTREE:
            w = desired.workers[name]
            old = files.get(name, WorkerFiles())
            files[name] = replace(old, worktree_exists=True, marker=name, setup_done=False)
            states[name] = WorkerState(
                name=name,
                repo=w.repo,
                repo_path=str(desired.repos[w.repo].local_path),
                branch=w.branch,
                base=w.base,
                worktree=str(desired.worktree_path(w)),
                placement_hash=w.placement_hash,
                run_hashes=dict(w.run_hashes),
                phase=Phase.PROVISIONING.value,
                reason=a.reason,
                created_at=now,
            )
        elif a.verb is Verb.START_AGENT:
            w = desired.workers[name]
            i = owned(name)
            if i is None:
                pane = make_pane(w, a.stage, a.attempt, session=session, activity=now)
                panes.append(pane)
            else:
                p = panes[i]
                panes[i] = replace(
                    p,
                    dead=False,
                    dead_status=None,
                    dead_signal=None,
                    spec=w.run_hash,
                    stage=a.stage,
                    attempt=a.attempt,
                    pane_pid=p.pane_pid + 1,
                    activity=now,
                )
            states[name] = started_state(
                states.get(name) or WorkerState(name), w, a, now,
                worktree=str(desired.worktree_path(w)),
                repo_path=str(desired.repos[w.repo].local_path),
            )  # fmt: skip
        elif a.verb is Verb.STOP_AGENT:
            # The agent obeys its TERM (or KILL) before the next pass looks.
            i = owned(name)
            if i is not None and not panes[i].dead:
                sig = 9 if a.force else 15
                panes[i] = replace(panes[i], dead=True, dead_status=None, dead_signal=sig)
            if name in states and not a.force:
                states[name] = replace(states[name], stop_sent_at=now)
        elif a.verb is Verb.COMPLETE_STAGE:
            assert a.stage is not None
            old = files.get(name, WorkerFiles())
            signals = {**old.signals, a.stage: Signal("done", a.reason, now)}
            files[name] = replace(old, signals=signals, activity=max(old.activity or now, now))
        elif a.verb is Verb.SET_PHASE:
            assert a.phase is not None
            s = states.get(name) or WorkerState(name)
            final = a.phase in (Phase.SUCCEEDED, Phase.FAILED)
            states[name] = replace(
                s,
                phase=a.phase.value,
                reason=a.reason,
                stage=a.stage or s.stage,
                backoff_until=a.backoff_until,
                restarts=a.restarts if a.restarts is not None else s.restarts,
                finished_at=now if final else s.finished_at,
            )
        elif a.verb is Verb.MOVE_BASE:
            w = desired.workers[name]
            states[name] = replace(states[name], base=w.base, placement_hash=w.placement_hash)
        elif a.verb is Verb.REMOVE_WORKTREE:
            files[name] = WorkerFiles()
        elif a.verb is Verb.KILL_WINDOW:
            i = owned(name)
            if i is not None:
                del panes[i]
        elif a.verb is Verb.FORGET:
            states.pop(name, None)
        elif a.verb is Verb.PUBLISH:  # the push and the pull request went through
            pub = desired.workers[name].publish
            url = "https://example.invalid/pr/1" if pub and pub.pull_request else ""
            states[name] = replace(states[name], published="0" * 40, pr_url=url)
        else:  # pragma: no cover - a new Verb needs a rule here
            raise AssertionError(f"simulate: no rule for {a.verb}")
    return Observed(
        tmux_up=observed.tmux_up or bool(panes),
        panes=tuple(panes),
        worktrees=_worktree_lists(files),
        files=files,
        states=states,
        session=session,
        missing_repos=frozenset(missing),
    )


# -- describing plans -----------------------------------------------------------


def describe(a: Action) -> str:
    """One compact line for GOT/WANT: ``verb worker stage attempt [flags] -> Phase: reason``."""
    parts = [a.verb.value]
    if a.worker:
        parts.append(a.worker)
    if a.stage or a.attempt:
        parts.append(a.stage or "-")
    if a.attempt:
        parts.append(str(a.attempt))
    if a.restart:
        parts.append("restart")
    if a.restarts is not None:
        parts.append(f"restarts={a.restarts}")
    if a.phase:
        parts.append(f"-> {a.phase.value}")
    if a.backoff_until is not None:
        parts.append(f"until={a.backoff_until:g}")
    return " ".join(parts) + f": {a.reason}"


TEARDOWN = (Verb.STOP_AGENT, Verb.REMOVE_WORKTREE, Verb.KILL_WINDOW, Verb.FORGET)
REMOVAL = (Verb.REMOVE_WORKTREE, Verb.KILL_WINDOW, Verb.FORGET)
