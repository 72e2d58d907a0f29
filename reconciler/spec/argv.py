"""An Agent's argv, checked when the specs load: what can never run is an error at its line.

``command: [""]``, a program name with a space in it (``["claude -p"]``: one
list element per argument), an argv template that does not compile or uses a
name no start provides: each is a SpecError located at the element.

A program this machine does not have (not on PATH, no such executable file) is
a warning of `orch validate`, not an error: a fleet is often validated on a CI
machine without the agent's CLI. A start checks it again (see
:func:`program_problem`) and fails that worker's start with the reason, instead
of opening a window whose shell exits 127 at every restart.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from reconciler.core import agent_command as prompts
from reconciler.core.errors import SpecError
from reconciler.core.model import Desired
from reconciler.spec.checks import ENV_REF, Collected, doc_error
from reconciler.spec.templates import sample_context, static_problem


def program_text_problem(program: str) -> str | None:
    """Why the first element of an argv can run nowhere, or None.

    Examples
    --------
    >>> program_text_problem("")
    'the program is empty (the first element of the list is the program, e.g. claude)'
    >>> program_text_problem("claude -p")
    'program "claude -p" has a space: give each argument its own element: [claude, -p]'
    >>> program_text_problem("/opt/My Tools/agent") is None, program_text_problem("sh") is None
    (True, True)
    """
    if not program.strip():
        return "the program is empty (the first element of the list is the program, e.g. claude)"
    if program != program.strip() or (" " in program and "/" not in program):
        example = ", ".join(program.split())
        return f'program "{program}" has a space: give each argument its own element: [{example}]'
    return None


def check_agent_argv(desired: Desired, acc: Collected) -> list[SpecError]:
    """Every Agent document's ``command`` and ``resume``: compiles, known names, a program."""
    names = frozenset(prompts.argv_context(sample_context(desired), "", "", None))
    found = []
    for doc, _ in acc.valid.get("Agent", []):
        spec, name = doc.data["spec"], doc.data["metadata"]["name"]
        for key in ("command", "resume"):
            argv = spec.get(key) or []
            for i, arg in enumerate(argv):
                problem = program_text_problem(arg) if i == 0 and "{" not in arg else None
                if problem is None and "{" in arg:
                    located = static_problem(arg, names)
                    problem = located[1] if located else None
                if problem:
                    found.append(
                        doc_error(acc, "Agent", name, ("spec", key, i), f"{key}[{i}]: {problem}")
                    )
    return found


def program_problem(program: str, env: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """Why ``program`` (an argv's first element, rendered) cannot start here, or None.

    A bare name is looked up on the PATH of ``env``; a path (absolute, or
    relative to ``cwd``, the worktree) must be an executable file. A relative
    path without ``cwd`` is not checked: the worktree may not exist yet.
    """
    if "/" not in program:
        if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
            return f'program "{program}" is not on PATH'
        return None
    path = Path(program)
    if not path.is_absolute():
        if cwd is None:
            return None
        path = cwd / path
    if not path.is_file():
        return f'program "{program}" does not exist'
    if not os.access(path, os.X_OK):
        return f'program "{program}" is not executable (chmod +x {program})'
    return None


def _agent_path(agent_env: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the PATH the agent gets: its own ``env.PATH`` (``${NAME}`` from ``env``).

    >>> _agent_path({"PATH": "/opt/bin:${PATH}"}, {"PATH": "/bin"})["PATH"]
    '/opt/bin:/bin'
    """
    if "PATH" not in agent_env:
        return dict(env)
    path = ENV_REF.sub(lambda m: env.get(m.group(1), ""), agent_env["PATH"])
    return {**env, "PATH": path}


def missing_programs(desired: Desired, env: Mapping[str, str]) -> list[SpecError]:
    """Warnings: the agents workers use whose program this machine does not have."""
    from reconciler.spec.templates import prompt_context

    found: dict[str, SpecError] = {}
    for worker in desired.workers.values():
        agent = desired.agents.get(worker.agent)
        pipeline = desired.pipelines.get(worker.pipeline)
        if agent is None or pipeline is None or agent.name in found or not agent.command:
            continue
        ctx = prompt_context(desired, worker, pipeline.stages[0])
        try:
            program = prompts.render(agent.command[0], prompts.argv_context(ctx, "", "", None))
        except Exception:  # noqa: BLE001, S112 - check_agent_argv reports template errors
            continue
        problem = program_problem(program, _agent_path(agent.env, env))
        if problem:
            # a built-in profile has no document: the first worker that uses it stands for it
            src, obj = (worker.source, f"Worker/{worker.name}") if agent.builtin else \
                (agent.source, f"Agent/{agent.name}")  # fmt: skip
            what = f"agent {agent.name}: " if agent.builtin else ""
            message = f"{what}{problem}; its workers would fail to start here"
            found[agent.name] = SpecError(src.path, src.line, src.col, obj, message)
    return list(found.values())
