"""Looking into one worker: describe (everything known about it) and render (its next launch)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run

commands = typer.Typer()

WorkerArg = Annotated[str, typer.Argument(help="The worker's name.")]


@commands.command(
    "render",
    epilog="Examples:\n\n\b\n"
    "  orch render w1                  the prompt and argv of w1's next attempt\n"
    "  orch render w1 --stage build    ...of stage build\n"
    "  orch render w1 --restart        the restart prompt `orch restart w1` would give\n"
    "  orch render w1 --json | jq -r .prompt\n\n"
    "Exit codes: 0 rendered; 1 an unknown worker or stage (the stages are listed), "
    "or a template that does not render.",
)
def render_cmd(
    worker: WorkerArg,
    stage: Annotated[str | None, typer.Option("--stage", help="Render this stage.")] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="The restart prompt, with the progress summary.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the exact prompt and argv orch would give WORKER's agent; start nothing.

    It is built by the same code a start uses, for the next attempt of the worker's
    current stage (or --stage). Environment values are shown as the specs give them
    (${NAME} not filled in, secrets masked). Nothing is written.
    """
    from reconciler.loop.render_start import render_start

    out = run(lambda: render_start(CTX.root, worker, stage, restart), json_errors=as_json)
    if as_json:
        emit_json(out)
        return
    text = render_text(out)
    typer.echo(text, nl=not text.endswith("\n"))


def render_text(out: dict[str, Any]) -> str:
    """`orch render`'s text: ``# key: value`` header lines, then the prompt verbatim.

    Examples
    --------
    >>> print(render_text({"worker": "w", "stage": "s", "attempt": 1, "restart": False,
    ...     "agent": "a", "cwd": "/w", "argv": ["sh", "a b"], "command": "exec sh 'a b'",
    ...     "promptFile": "/p", "env": {"K": "v"}, "prompt": "Hi"}))
    # w: stage s, attempt #1, agent a
    # cwd: /w
    # argv: sh 'a b'
    # command: exec sh 'a b'
    # prompt file: /p
    # env K=v
    # prompt:
    Hi
    """
    import shlex

    kind = "restart, attempt" if out["restart"] else "attempt"
    lines = [
        f"# {out['worker']}: stage {out['stage']}, {kind} #{out['attempt']}, agent {out['agent']}",
        f"# cwd: {out['cwd']}",
        f"# argv: {shlex.join(out['argv'])}",
        f"# command: {out['command']}",
        f"# prompt file: {out['promptFile']}",
        *(f"# env {key}={value}" for key, value in out["env"].items()),
        "# prompt:",
    ]
    return "\n".join(lines) + "\n" + str(out["prompt"])
