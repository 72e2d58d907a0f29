"""`orch hook EVENT`: what Claude Code's hooks run; records the event for the reconciler.

orch writes each claude worker a settings file whose hooks run this command
(by the absolute path of the python that runs orch, so no PATH is needed). It
appends the hook's JSON (stdin) with the event name, a timestamp, the stage and
the attempt to ``<worktree>/.orch/hooks.jsonl`` and exits at once. At a Stop
whose stage has no signal file yet, it answers ``{"decision": "block", ...}``
(at most ORCH_STOP_NUDGES times an attempt), which keeps the agent working on
its stage in the same run. It never fails the agent: any problem is swallowed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

commands = typer.Typer()
_STDIN_CAP = 1 << 20
_FIELD_CAP = 2000  # characters of any one field kept (tool inputs and outputs can be large)
NUDGE = (
    "Your stage is not finished: orch has no signal for it. Finish the stage's work, "
    "then write the signal file {signal}; if it cannot be done, write {failed} with the "
    "reason instead. Do not stop before one of the two exists."
)


def _read_event() -> dict[str, Any]:
    text = sys.stdin.read(_STDIN_CAP) if not sys.stdin.isatty() else ""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        data = {"raw": text[:_FIELD_CAP]}
    return data if isinstance(data, dict) else {"raw": str(data)[:_FIELD_CAP]}


def _trim(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return value if len(text) <= _FIELD_CAP else text[:_FIELD_CAP] + "…"


def _nudges_so_far(journal: Path, stage: str, attempt: int) -> int:
    try:
        lines = journal.read_text(errors="replace").splitlines()
    except OSError:
        return 0
    count = 0
    for line in lines:
        try:
            hook = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(hook, dict)
            and hook.get("event") == "Stop"
            and hook.get("nudged")
            and (hook.get("stage"), hook.get("attempt")) == (stage, attempt)
        ):
            count += 1
    return count


def _should_nudge(env: dict[str, str], journal: Path, stage: str, attempt: int) -> bool:
    signal, failed = env.get("ORCH_SIGNAL_FILE"), env.get("ORCH_FAILED_FILE")
    if not signal or Path(signal).exists() or (failed and Path(failed).exists()):
        return False
    allowed = int(env.get("ORCH_STOP_NUDGES", "2") or 0)
    return _nudges_so_far(journal, stage, attempt) < allowed


def record(event_name: str, event: dict[str, Any], env: dict[str, str]) -> str | None:
    """Append the event to the worktree's hooks.jsonl; the Stop answer, if any."""
    from reconciler.core.redact import Redactor, secret_values

    worktree = Path(env.get("ORCH_WORKTREE") or event.get("cwd") or ".")
    journal = worktree / ".orch" / "hooks.jsonl"
    stage = env.get("ORCH_STAGE", "")
    attempt = int(env.get("ORCH_ATTEMPT", "0") or 0)
    line = {k: _trim(v) for k, v in event.items()}
    line.update(event=event_name, ts=time.time(), stage=stage, attempt=attempt)
    answer = None
    if event_name == "Stop" and _should_nudge(env, journal, stage, attempt):
        reason = NUDGE.format(signal=env["ORCH_SIGNAL_FILE"], failed=env.get("ORCH_FAILED_FILE"))
        answer = json.dumps({"decision": "block", "reason": reason})
        line["nudged"] = True
    redacted = Redactor(secret_values(env)).data(line)
    journal.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:  # one write with O_APPEND: lines of concurrent hooks do not mix
        os.write(fd, (json.dumps(redacted) + "\n").encode())
    finally:
        os.close(fd)
    return answer


@commands.command(
    "hook",
    hidden=True,
    epilog="Written into each claude worker's settings by orch; not meant to be run by hand.\n\n"
    "Example: echo '{}' | ORCH_WORKTREE=. orch hook PreToolUse",
)
def hook(
    event: Annotated[str, typer.Argument(help="The hook event, e.g. PreToolUse or Stop.")],
) -> None:
    """Record a Claude Code hook event for the reconciler (used by orch's hook settings)."""
    try:
        answer = record(event, _read_event(), dict(os.environ))
    except Exception:  # noqa: BLE001 - a hook must never break the agent
        return
    if answer:
        typer.echo(answer)
