"""How an agent is launched: prompt and argv rendered from templates (pure).

Every agent, whatever its CLI, is started the same way: the stage prompt
(or the restart prompt) is rendered in jinja2's sandbox and written to a
file; the Agent's argv template is rendered over the same context plus
``prompt_file``/``prompt``/``session_id``; the argv is quoted into one shell
command line for tmux, with the prompt on stdin unless the argv uses it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from reconciler.core.model import Agent, Desired, Stage, Worker

SIGNALS_DIR = ".orch/signals"
PROGRESS_FILE = ".orch/progress.md"
OWNER_FILE = ".orch/owner.json"
SETUP_DONE_FILE = ".orch/setup.done"
SETUP_FAILED_FILE = ".orch/setup.failed"
HOOKS_FILE = ".orch/hooks.jsonl"


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one attempt of one stage."""

    command: str  # a shell command line: quoted argv, maybe `< prompt_file`
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    prompt: str
    prompt_file: str
    log_path: str
    resumed: bool


@cache
def environment() -> Any:
    """The jinja2 sandbox that renders prompts and argv: an undefined name is an error."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@lru_cache(maxsize=512)
def _compiled(template: str) -> Any:
    return environment().from_string(template)


def render(template: str, ctx: Mapping[str, Any]) -> str:
    """Render ``template`` in jinja2's sandbox; undefined names are errors."""
    return str(_compiled(template).render(**ctx))


def uses_prompt(argv: tuple[str, ...]) -> bool:
    """Whether an argv template takes the prompt itself (``prompt_file`` or ``prompt``)."""
    from jinja2 import meta

    names: set[str] = set()
    for arg in argv:
        if "{" in arg:
            names |= meta.find_undeclared_variables(environment().parse(arg))
    return bool(names & {"prompt", "prompt_file"})


def prompt_context(
    desired: Desired, worker: Worker, stage: Stage, attempt: int, worktree: Path
) -> dict[str, Any]:
    """Names a stage prompt, a restart prompt and an argv template can use."""
    pipeline = desired.pipelines[worker.pipeline]
    return {
        "worker": worker.name,
        "repo": worker.repo,
        "branch": worker.branch,
        "base": worker.base,
        "stage": stage.name,
        "stage_index": pipeline.index(stage.name),
        "stages": [s.name for s in pipeline.stages],
        "attempt": attempt,
        "vars": dict(worker.vars),
        "item": worker.item if worker.item is not None else {},  # a WorkerSet's item
        "worktree": str(worktree),
        "signal_file": str(worktree / SIGNALS_DIR / f"{stage.name}.done"),
        "failed_file": str(worktree / SIGNALS_DIR / f"{stage.name}.failed"),
        "progress_file": str(worktree / PROGRESS_FILE),
        "root": str(desired.root),
        # claude: hook settings outside the worktree (see loop.claude_launch)
        "settings_file": str(desired.state_dir / "agents" / worker.name / "settings.json"),
    }


def restart_context(
    ctx: Mapping[str, Any], summary: str, stage_prompt: str, reason: str
) -> dict[str, Any]:
    """A restart prompt's names: the stage prompt's, plus what the last attempt left."""
    return {**ctx, "summary": summary, "stage_prompt": stage_prompt, "reason": reason}


def argv_context(
    ctx: Mapping[str, Any], prompt: str, prompt_file: str, session_id: str | None
) -> dict[str, Any]:
    """An Agent's argv template's names: the prompt's, plus the prompt and the session."""
    return {**ctx, "prompt": prompt, "prompt_file": prompt_file, "session_id": session_id or ""}


def agent_env(agent: Agent, ctx: Mapping[str, Any], prompt_file: str) -> dict[str, str]:
    """The agent's environment: its spec's env plus ORCH_* facts about the attempt."""
    env = dict(agent.env)
    env.update(
        {
            "ORCH_WORKER": str(ctx["worker"]),
            "ORCH_STAGE": str(ctx["stage"]),
            "ORCH_ATTEMPT": str(ctx["attempt"]),
            "ORCH_WORKTREE": str(ctx["worktree"]),
            "ORCH_SIGNAL_FILE": str(ctx["signal_file"]),
            "ORCH_FAILED_FILE": str(ctx["failed_file"]),
            "ORCH_PROGRESS_FILE": str(ctx["progress_file"]),
            "ORCH_PROMPT_FILE": prompt_file,
        }
    )
    return env


def env_file_text(env: Mapping[str, str]) -> str:
    """The agent's environment as shell assignments, for a file the window sources.

    Values reach the agent through this file (mode 0600), never on a command
    line that every local user can read in the process list.

    Examples
    --------
    >>> print(env_file_text({"A": "x y", "B": "it's"}), end="")
    A='x y'
    B='it'"'"'s'
    """
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))


def source_env(env_file: str) -> str:
    """The shell line that exports every assignment of ``env_file`` to what follows."""
    return f"set -a; . {shlex.quote(env_file)}; set +a; "


def setup_script(worktree: str, commands: tuple[str, ...]) -> str:
    """Shell lines that run a Repo's setup commands once per worktree, before the agent.

    They run in the worker's own window (their output goes to its log); the
    first failure writes which command and its exit to ``.orch/setup.failed``
    and ends the window with that exit code. ``.orch/setup.done`` marks them
    done, so a restart does not run them again.

    Examples
    --------
    >>> setup_script("/w", ())
    ''
    >>> "/bin/sh -c 'make deps' ||" in setup_script("/w", ("make deps",))
    True
    """
    if not commands:
        return ""
    done = shlex.quote(f"{worktree}/{SETUP_DONE_FILE}")
    failed = shlex.quote(f"{worktree}/{SETUP_FAILED_FILE}")
    steps = []
    for command in commands:
        q = shlex.quote(command)
        note = "'setup command `'" + q + "'` exited '\"$c\""
        steps.append(
            f"echo {shlex.quote('[orch] setup: ' + command)}; "
            f"/bin/sh -c {q} || {{ c=$?; printf '%s\\n' {note} > {failed}; exit $c; }}"
        )
    return f"rm -f {failed}; if [ ! -e {done} ]; then {'; '.join(steps)}; : > {done}; fi; "


def prompt_input(interactive: bool, prompt_file: str) -> str:
    """How the prompt reaches an argv that does not use it: stdin, or the last argument.

    An interactive agent's stdin is its terminal, so it gets the prompt as its
    last argument, read from the file by the window's shell (a prompt of any
    length and any characters passes whole, and never through tmux).

    Examples
    --------
    >>> prompt_input(False, "/p.md")
    ' < /p.md'
    >>> prompt_input(True, "/p.md")
    ' "$(cat /p.md)"'
    """
    quoted = shlex.quote(prompt_file)
    return f' "$(cat {quoted})"' if interactive else f" < {quoted}"


def build_launch(
    agent: Agent,
    ctx: Mapping[str, Any],
    prompt: str,
    prompt_file: str,
    log_path: str,
    session_id: str | None = None,
    setup: tuple[str, ...] = (),
    env_file: str | None = None,
    extra_args: tuple[str, ...] = (),
) -> Launch:
    """Render the argv (the resume argv when a session id is known) and the command line.

    ``setup``: the Repo's setup commands, run first in the window (once per worktree).
    ``env_file``: where the caller writes :attr:`Launch.env`; the line sources it.
    """
    resumed = bool(session_id and agent.resume)
    template = agent.resume if resumed and agent.resume else agent.command
    full = argv_context(ctx, prompt, prompt_file, session_id)
    argv = (*(render(arg, full) for arg in template), *extra_args)
    line = source_env(env_file) if env_file else ""
    line += setup_script(str(ctx["worktree"]), setup) + "exec " + shlex.join(argv)
    if not uses_prompt(template):
        line += prompt_input(agent.interactive, prompt_file)
    return Launch(
        line,
        argv,
        agent_env(agent, ctx, prompt_file),
        str(ctx["worktree"]),
        prompt,
        prompt_file,
        log_path,
        resumed,
    )
