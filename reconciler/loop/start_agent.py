"""Start one attempt of one stage: prompt, argv, tmux window, state.

The only place an agent is launched; every kind of agent (Claude Code, any
CLI, a test script) goes through :func:`start_agent` and
:func:`reconciler.core.agent_command.build_launch`.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.core.actions import Action
from reconciler.core.agent_command import (
    OWNER_FILE,
    PROGRESS_FILE,
    SIGNALS_DIR,
    Launch,
    build_launch,
    env_file_text,
    prompt_context,
    render,
    restart_context,
)
from reconciler.core.errors import DriverError, OrchError
from reconciler.core.limits import worker_cost
from reconciler.core.model import Desired, Stage, Worker, WorkerState
from reconciler.core.observed import Observed, Pane, WorkerFiles
from reconciler.core.summary import SummaryInput, build_summary
from reconciler.core.worker_view import started_state
from reconciler.data import RESTART_TEMPLATE, packaged
from reconciler.drivers.git import Git
from reconciler.drivers.tmux import WindowSpec
from reconciler.loop import claude_config
from reconciler.loop.accounts import fold_cost
from reconciler.loop.claude_launch import (
    agent_extras,
    resolve_env,
    settings_path,
    transcript,
    write_settings,
)
from reconciler.loop.pass_context import PassContext
from reconciler.loop.secrets import mask
from reconciler.loop.state_store import write_atomic
from reconciler.spec.argv import program_problem

LOG_TAIL_BYTES = 64 * 1024
SESSION_SCAN_BYTES = 256 * 1024
UNTRACKED_CAP = 50


class TemplateFailed(OrchError):
    """A prompt or argv template could not be rendered."""


def write_owner(worktree: Path, w: Worker, fleet: str) -> None:
    """``.orch/owner.json`` (which fleet made this worktree, for whom) and ``.orch/signals/``."""
    owner = {"worker": w.name, "repo": w.repo, "fleet": fleet, "host": socket.gethostname()}
    write_atomic(worktree / OWNER_FILE, json.dumps(owner) + "\n")
    (worktree / SIGNALS_DIR).mkdir(parents=True, exist_ok=True)


def _worker_stage(desired: Desired, action: Action) -> tuple[Worker, Stage]:
    """The worker and the stage ``action`` starts (TemplateFailed: no such stage)."""
    w = desired.workers[action.worker]
    pipeline = desired.pipelines[w.pipeline]
    index = pipeline.index(action.stage or "")
    if index < 0:
        msg = f'pipeline "{pipeline.name}" has no stage "{action.stage}"'
        raise TemplateFailed(msg)
    return w, pipeline.stages[index]


def preflight(ap: PassContext, action: Action) -> None:
    """Render what starting ``action``'s stage would render, and write nothing.

    Raises TemplateFailed as :func:`start_agent` would. Run before the stop
    that precedes a restart, so a broken template never costs a running agent.
    """
    desired = ap.desired
    w, stage = _worker_stage(desired, action)
    ctx = prompt_context(desired, w, stage, action.attempt, ap.worktree(w.name))
    try:
        prompt = render(_read_template(desired.root, stage.prompt), ctx)
        if action.restart:
            render(
                _restart_template(desired, stage), restart_context(ctx, "", prompt, action.reason)
            )
    except Exception as err:  # jinja2's TemplateError, a missing file, sandbox errors
        msg = f"stage {stage.name}: prompt: {type(err).__name__}: {err}"
        raise TemplateFailed(msg) from err
    agent = desired.agents[w.agent]
    try:
        launch = build_launch(agent, ctx, prompt, "/dev/null", "/dev/null", "check")
    except Exception as err:  # a bad argv template
        msg = f"agent {agent.name}: command: {err}"
        raise TemplateFailed(msg) from err
    _check_program(agent.name, launch.argv, resolve_env(launch.env, os.environ), launch.cwd)


def _check_program(agent: str, argv: tuple[str, ...], env: dict[str, str], cwd: str) -> None:
    """TemplateFailed when the argv's program is not here: a failed start, not a crash loop."""
    problem = program_problem(argv[0], {**os.environ, **env}, Path(cwd)) if argv else "empty argv"
    if problem:
        msg = f"agent {agent}: {problem}"
        raise TemplateFailed(msg)


@dataclass(frozen=True)
class Prepared:
    """One attempt's launch as orch builds it: prompt, argv and command line, and its files.

    :func:`start_agent` starts exactly this; `orch render` prints it.
    """

    launch: Launch
    worker: Worker
    stage: Stage
    prompt_file: Path
    log_path: Path
    env_file: Path
    session_id: str | None


def worktree_of(desired: Desired, observed: Observed, state: WorkerState | None, name: str) -> Path:
    """Where a desired worker's worktree is: from its state, the observation, or the spec."""
    if state and state.worktree:
        return Path(state.worktree)
    files = observed.files.get(name)
    if files and files.path:
        return Path(files.path)
    return desired.worktree_path(desired.workers[name])


def prepare_launch(
    desired: Desired, observed: Observed, state: WorkerState, action: Action, worktree: Path
) -> Prepared:
    """Render ``action``'s prompt (the restart prompt when it restarts) and argv; write nothing.

    Raises TemplateFailed for a broken template or argv.
    """
    w, stage = _worker_stage(desired, action)
    ctx = prompt_context(desired, w, stage, action.attempt, worktree)
    session_id = None
    try:
        prompt = render(_read_template(desired.root, stage.prompt), ctx)
        if action.restart:
            session_id = resume_session(desired, observed, w, state, str(worktree))
            prompt = _restart_prompt(desired, w, stage, state, ctx, prompt, action.reason)
    except (OSError, ValueError, LookupError) as err:
        msg = f"stage {stage.name}: prompt: {err}"
        raise TemplateFailed(msg) from err
    except Exception as err:  # jinja2's TemplateError and sandbox SecurityError
        msg = f"stage {stage.name}: prompt: {type(err).__name__}: {err}"
        raise TemplateFailed(msg) from err
    run_dir = desired.state_dir / "logs" / w.name
    prompt_file = run_dir / f"{stage.name}-{action.attempt}.prompt.md"
    log_path = run_dir / f"{stage.name}-{action.attempt}.log"
    env_file = run_dir / f"{stage.name}-{action.attempt}.env"
    agent = desired.agents[w.agent]
    budget = () if agent.interactive else _budget_args(w, agent.profile, state,
                                                       observed.files.get(w.name))  # fmt: skip
    try:
        launch = build_launch(agent, ctx, prompt, str(prompt_file), str(log_path), session_id,
                              setup=desired.repos[w.repo].setup, env_file=str(env_file),
                              extra_args=budget)  # fmt: skip
    except Exception as err:  # a bad argv template
        msg = f"agent {agent.name}: command: {err}"
        raise TemplateFailed(msg) from err
    return Prepared(launch, w, stage, prompt_file, log_path, env_file, session_id)


def start_agent(
    ap: PassContext, action: Action, window: Pane | None, stop_old: Callable[[], None]
) -> dict[str, object]:
    """Render and start ``action``'s stage attempt in the worker's window.

    Everything that can fail on the spec's side (templates, argv) happens before
    ``stop_old`` ends the agent now running: a bad edit does not kill a worker.
    """
    desired = ap.desired
    worktree = ap.worktree(action.worker)
    prepared = prepare_launch(desired, ap.observed, ap.state(action.worker), action, worktree)
    w, stage, launch = prepared.worker, prepared.stage, prepared.launch
    session_id, log_path, env_file = prepared.session_id, prepared.log_path, prepared.env_file
    write_atomic(prepared.prompt_file, launch.prompt)
    agent = desired.agents[w.agent]
    options = {
        "@orch-fleet": desired.config.fleet_name,
        "@orch-worker": w.name,
        "@orch-spec": w.run_hash,
        "@orch-stage": stage.name,
        "@orch-attempt": str(action.attempt),
    }
    env = {**resolve_env(launch.env, os.environ), **agent_extras(agent),
           **claude_config.config_env(desired, agent)}  # fmt: skip
    _check_program(agent.name, launch.argv, env, launch.cwd)
    write_atomic(env_file, env_file_text(env), mode=0o600)  # it holds the agent's secrets
    if agent.profile == "claude":
        write_settings(settings_path(desired.state_dir, w.name), agent.interactive)
        if agent.interactive or claude_config.own_dir(desired, agent):
            claude_config.prepare(desired, agent, {**os.environ, **env})
    stop_old()
    if log_path.exists():
        log_path.unlink()  # a rerun of the same attempt number starts a fresh log
    # A reconciler killed right after `git worktree add` left no .orch/: make it now.
    if not (worktree / OWNER_FILE).exists():
        write_owner(worktree, w, desired.config.fleet_name)

    def record() -> None:
        fold_cost(ap, w.name)  # the attempt that ends now: what it cost stays on record
        repo_path = str(desired.repos[w.repo].local_path)
        started = started_state(ap.state(w.name), w, action, ap.clock(),
                                worktree=str(worktree), repo_path=repo_path)  # fmt: skip
        fleet = desired.config.fleet_name
        session = session_id or started.session_id
        ap.save(replace(started, fleet=fleet, log=str(log_path), session_id=session))

    if window is None:  # new windows open together at the end of the pass
        session = desired.config.tmux_session
        spec = WindowSpec(session, ap.free_index(), w.name, launch.cwd, launch.command,
                          {}, launch.log_path, options)  # fmt: skip
        ap.defer(action, spec, record)
    else:
        ap.tmux.respawn_window(
            window.window_id, launch.cwd, launch.command, {}, launch.log_path, options
        )
        record()
    detail: dict[str, object] = {"log": str(log_path)}
    if launch.resumed:
        detail["resumed"] = session_id
    return detail


def _budget_args(
    w: Worker, profile: str, state: WorkerState, files: WorkerFiles | None
) -> tuple[str, ...]:
    """claude: ``--max-budget-usd`` for what is left of the worker's budget."""
    if profile != "claude" or w.budget_usd is None:
        return ()
    spent = worker_cost(state, files) or 0.0
    return ("--max-budget-usd", f"{max(w.budget_usd - spent, 0.01):.2f}")


def _read_template(root: Path, rel: str) -> str:
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        msg = f'"{rel}" resolves outside the control repo'
        raise ValueError(msg)
    return path.read_text()


def _restart_prompt(
    desired: Desired,
    w: Worker,
    stage: Stage,
    state: WorkerState,
    ctx: dict[str, Any],
    stage_prompt: str,
    reason: str,
) -> str:
    summary = mask(build_summary(gather_summary(desired, w, stage, state, reason)))
    return render(
        _restart_template(desired, stage),
        restart_context(ctx, summary, stage_prompt, reason),
    )


def _restart_template(desired: Desired, stage: Stage) -> str:
    """The stage's restart prompt template: the control repo's, else the packaged one."""
    rel = stage.restart_prompt or RESTART_TEMPLATE
    if (desired.root / rel).is_file():
        return _read_template(desired.root, rel)
    return packaged(RESTART_TEMPLATE)


def gather_summary(
    desired: Desired, w: Worker, stage: Stage, state: WorkerState, reason: str
) -> SummaryInput:
    """Collect what the previous attempt left: commits, changes, log tail, notes."""
    worktree = Path(state.worktree) if state.worktree else desired.worktree_path(w)
    repo = Path(state.repo_path) if state.repo_path else desired.repos[w.repo].local_path
    commits: list[str] = []
    diff_stat = ""
    untracked: list[str] = []
    total = commits_total = 0
    try:
        git = Git(repo)
        commits = git.log_oneline(worktree, w.base, 20).splitlines()
        commits_total = git.count_commits(worktree, w.base)
        diff_stat = git.diff_stat(worktree)
        untracked, total = git.untracked(worktree, UNTRACKED_CAP)
    except DriverError as err:
        diff_stat = f"(git: {err})"
    return SummaryInput(
        stage=stage.name,
        attempt=state.attempt,
        reason=reason,
        base=w.base,
        commits=commits,
        diff_stat=diff_stat,
        untracked=untracked,
        untracked_total=total,
        commits_total=commits_total,
        log_tail=_tail(Path(state.log), LOG_TAIL_BYTES) if state.log else "",
        progress=_tail(worktree / PROGRESS_FILE, 16 * 1024),
    )


def _tail(path: Path, size: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            end = fh.tell()
            fh.seek(max(0, end - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def resume_session(
    desired: Desired, observed: Observed, w: Worker, state: WorkerState, worktree: str
) -> str | None:
    """The session to resume, if the agent can resume and (claude) its transcript is there."""
    agent = desired.agents[w.agent]
    if not agent.session_id_from or not agent.resume:
        return None
    if agent.profile == "claude":
        files = observed.files.get(w.name)
        stream = files.stream if files else None
        hook = files.hooks if files else None
        found = (stream and stream.session_id) or (hook and hook.session_id) or state.session_id
        env = {**resolve_env(agent.env, os.environ), **claude_config.config_env(desired, agent)}
        return found if found and transcript(found, worktree, env) else None
    found = None
    if state.log:
        try:
            with Path(state.log).open("rb") as fh:
                found = find_session_id(
                    agent.session_id_from, fh.read(SESSION_SCAN_BYTES).decode("utf-8", "replace")
                )
        except OSError:
            found = None
    return found or state.session_id


def find_session_id(how: str, text: str) -> str | None:
    """The agent's session id in its log: ``claude-stream-json`` or ``regex:<pattern>``.

    Examples
    --------
    >>> line = '{"type":"system","subtype":"init","session_id":"ab-1"}'
    >>> find_session_id("claude-stream-json", line)
    'ab-1'
    >>> find_session_id("regex:session=(\\\\w+)", "x session=42 y")
    '42'
    """
    if how == "claude-stream-json":
        match = re.search(r'"type"\s*:\s*"system"[^\n]*?"session_id"\s*:\s*"([^"]+)"', text)
        if match is None:
            match = re.search(r'"session_id"\s*:\s*"([^"]+)"', text)
        return match.group(1) if match else None
    if how.startswith("regex:"):
        match = re.search(how.removeprefix("regex:"), text)
        if match:
            return match.group(1) if match.groups() else match.group(0)
    return None
