"""Looking into one worker: describe (everything known about it) and render (its next launch)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from reconciler.cli.runner import CTX, JsonOpt, emit_json, run

commands = typer.Typer()

WorkerArg = Annotated[str, typer.Argument(help="The worker's name.")]


@commands.command(
    epilog="Examples:\n\n\b\n"
    "  orch describe w1\n"
    "  orch describe w1 --json | jq '.attempts[] | select(.outcome==\"failed\")'\n\n"
    "Exit codes: 0 described; 1 a worker orch neither has in its specs nor knows "
    "(close names are suggested).",
)
def describe(worker: WorkerArg, as_json: JsonOpt = False) -> None:
    """Everything known about one worker: its spec as resolved, worktree, branch and
    base (ahead/behind), every attempt (start, end, outcome, reason), its backup refs,
    its last events and the path of each run log. Reads only."""
    from reconciler.loop.describe_worker import describe_worker

    out = run(lambda: describe_worker(CTX.root, worker), json_errors=as_json)
    if as_json:
        emit_json(out)
        return
    typer.echo(describe_text(out))


def describe_text(out: dict[str, Any]) -> str:
    """`orch describe`'s text: sections as kubectl describe lays them out."""
    return "\n".join([*_head(out), *_sections(out)])


def _head(out: dict[str, Any]) -> list[str]:
    """Name, phase, stage, spec, and where the worker lives."""
    import json

    from reconciler.core.rows import restarts_text

    row, spec = out["status"] or {}, out["spec"] or {}
    lines = [f"Name:      {out['name']}" + ("" if out["inSpecs"] else "  (not in the specs)")]
    if row:
        lines.append(f"Phase:     {row['phase']}  ({row['reason']})")
        lines.append(f"Stage:     {row['stage'] or '-'}, attempt {row['attempt']}, "
                     f"restarts {restarts_text(out)}")  # fmt: skip
    if spec:
        stages = ", ".join(spec.get("stages", []))
        lines.append(f"Spec:      {spec['source']}: repo {spec['repo']}, "
                     f"pipeline {spec['pipeline']} ({stages}), agent {spec['agent']}")  # fmt: skip
        keys = ("vars", "dependsOn", "host", "suspend", "workerSet")
        lines.extend(f"  {key}: {json.dumps(spec[key])}" for key in keys if spec.get(key))
    ahead = "" if out["ahead"] is None else f": {out['ahead']} ahead, {out['behind']} behind"
    lines.append(f"Worktree:  {out['worktree'] or '-'}")
    lines.append(f"Repo:      {out['repoPath'] or '-'}")
    lines.append(f"Branch:    {out['branch'] or '-'} (base {out['base'] or '-'}){ahead}")
    if out["gitError"]:
        lines.append(f"  git: {out['gitError']}")
    return lines


def _sections(out: dict[str, Any]) -> list[str]:
    """Attempts, backups, logs and the last events."""
    from reconciler.cli.table import table

    body = [[a["stage"], a["attempt"], a["start"] or "-", a["end"] or "-", a["outcome"],
             a["reason"] or a["startReason"]] for a in out["attempts"]]  # fmt: skip
    attempts = table(["STAGE", "#", "START", "END", "OUTCOME", "REASON"], body).splitlines()
    lines = ["Attempts:", *([f"  {line}" for line in attempts] if body else ["  none recorded"])]
    lines.append("Backups:")
    lines += [f"  {b['ref']}  {b['commit'][:12]}" for b in out["backups"]] or ["  none"]
    lines.append("Logs:")
    lines += [f"  {log['path']}  ({log['bytes']} bytes)" for log in out["logs"]] or ["  none"]
    lines.append("Events:")
    lines += [_event_line(e) for e in out["events"]] or ["  none"]
    return lines


def _event_line(e: dict[str, Any]) -> str:
    where = f" {e['stage']}#{e['attempt']}" if e.get("stage") and e.get("attempt") else ""
    failed = "" if e.get("ok", True) else f" FAILED: {e.get('error')}"
    return f"  {e.get('time')}  {e.get('verb')}{where}: {e.get('reason')}{failed}"


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
