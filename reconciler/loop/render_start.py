"""`orch render`: the prompt and argv orch would give a worker's agent, started nowhere.

It builds the attempt with :func:`~reconciler.loop.start_agent.prepare_launch`,
the very function a start uses, for the attempt that would come next: the
worker's current stage (or ``stage``), its next attempt number, and with
``restart`` the restart prompt `orch restart` would give (reason "restart
requested", the summary of what the worktree holds now). Nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.core.actions import Action, Verb
from reconciler.core.errors import UnknownWorker, UsageError
from reconciler.core.model import WorkerState
from reconciler.core.redact import redact_env
from reconciler.loop import engine
from reconciler.loop.claude_launch import agent_extras
from reconciler.loop.start_agent import prepare_launch, worktree_of

RESTART_REASON = "restart requested"  # what `orch restart` says


def render_start(
    root: Path, name: str, stage: str | None = None, restart: bool = False
) -> dict[str, Any]:
    """The next attempt of ``name`` as data: prompt, argv, command line, files, environment.

    Raises UnknownWorker (close names suggested) and UsageError (no such stage:
    the pipeline's stages listed).
    """
    desired = engine.load(root, require_env=False)
    worker = desired.workers.get(name)
    observed = engine.snapshot(desired)
    if worker is None:
        raise UnknownWorker(name, [*desired.workers, *observed.known_workers()])
    state = observed.states.get(name) or WorkerState(name)
    pipeline = desired.pipelines[worker.pipeline]
    target = stage or state.stage or pipeline.stages[0].name
    if pipeline.index(target) < 0:
        names = ", ".join(s.name for s in pipeline.stages)
        msg = f'pipeline "{pipeline.name}" has no stage "{target}"; its stages: {names}'
        raise UsageError(msg)
    attempt = (state.attempt if state.stage == target else 0) + 1
    reason = RESTART_REASON if restart else "render"
    action = Action(Verb.START_AGENT, name, reason, stage=target, attempt=attempt,
                    restart=restart, restarts=0 if restart else None)  # fmt: skip
    worktree = worktree_of(desired, observed, state, name)
    prepared = prepare_launch(desired, observed, state, action, worktree)
    launch = prepared.launch
    env = {**launch.env, **agent_extras(desired.agents[worker.agent])}
    return {
        "worker": name,
        "stage": target,
        "attempt": attempt,
        "restart": restart,
        "agent": worker.agent,
        "prompt": launch.prompt,
        "argv": list(launch.argv),
        "command": launch.command,
        "cwd": launch.cwd,
        "promptFile": str(prepared.prompt_file),
        "log": str(prepared.log_path),
        "envFile": str(prepared.env_file),
        "env": redact_env(dict(sorted(env.items()))),  # as the specs say: ${NAME} unfilled
        "resumes": prepared.session_id,
    }
