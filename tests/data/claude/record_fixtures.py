"""Record the fixtures of this folder: real Claude Code runs against orch's stub API.

Run from the repository root (needs the pinned CLI, see tests/e2e/conftest.py)::

    .venv/bin/python tests/data/claude/record_fixtures.py [CLAUDE_BIN]

Each scenario runs ``claude -p --output-format stream-json --verbose
--settings <orch's hook settings> --dangerously-skip-permissions`` in a fresh
git repo under a temporary folder, with the environment of the e2e fixtures
(``CLAUDE_CONFIG_DIR`` and HOME in the temporary folder, the stub as
``ANTHROPIC_BASE_URL``, ``CLAUDE_CODE_MAX_RETRIES=2``), and hooks that run
``python -m reconciler hook EVENT`` (``reconciler.core.hooks.settings``, as a
worker gets them) with ``ORCH_STAGE=build``, ``ORCH_ATTEMPT=1``. It writes
``<scenario>.stream.jsonl`` (claude's stdout) and ``<scenario>.hooks.jsonl``
(the ``.orch/hooks.jsonl`` that ``orch hook`` wrote). The temporary folder's
path is replaced by ``/tmp/rec`` (``-tmp-rec`` in the CLI's projects folder name).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from reconciler.core import hooks
from reconciler.stubapi import Lane, ScriptLike, StubAPI, bash, error, text, with_headers

HERE = Path(__file__).resolve().parent
PINNED = HERE.parents[2] / ".ci" / "node" / "node_modules" / ".bin" / "claude"
PROMPT = "Worker rec, stage build: make a.txt."
RESET = 1900000000  # epoch seconds the 429 says the usage limit lifts at
OAUTH = {"ANTHROPIC_API_KEY": None, "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-stub"}
WARNING = {
    "anthropic-ratelimit-unified-status": "allowed_warning",
    "anthropic-ratelimit-unified-reset": str(RESET),
    "anthropic-ratelimit-unified-representative-claim": "five_hour",
    "anthropic-ratelimit-unified-5h-status": "allowed_warning",
    "anthropic-ratelimit-unified-5h-reset": str(RESET),
    "anthropic-ratelimit-unified-5h-utilization": "0.93",
    "anthropic-ratelimit-unified-5h-surpassed-threshold": "0.9",
}
CREDIT = "Your credit balance is too low to access the Anthropic API."

# name: (stub script, extra claude args, env changes, Stop nudges allowed)
SCENARIOS: dict[str, tuple[ScriptLike, list[str], dict[str, str | None], int]] = {
    "tool_then_text": ([bash("echo hi > a.txt", "write a.txt"), text("Wrote a.txt.")], [], {}, 0),
    "tool_fails": ([bash("echo oops; exit 3", "fail"), text("The command failed.")], [], {}, 0),
    "stop_nudged": ([text("First answer."), text("Second answer.")], [], {}, 1),
    "server_error": (Lane((), then=error(500)), [], {}, 0),
    "usage_limit": (
        Lane((), then=error(429, headers={"anthropic-ratelimit-unified-reset": str(RESET)})),
        [],
        OAUTH,
        0,
    ),
    "limit_warning": ([with_headers(text("Nearly at the limit."), WARNING)], [], OAUTH, 0),
    "budget": ([bash(f"echo {i} >> a.txt") for i in range(6)], ["--max-budget-usd", "0.01"], {}, 0),
    "auth_failed": (Lane((), then=error(401)), [], {}, 0),
    "billing": (Lane((), then=error(400, CREDIT)), [], {}, 0),
}


def record(binary: Path, name: str, root: Path) -> None:
    """Run one scenario in ``root`` and write its two fixture files beside this script."""
    script, args, changes, nudges = SCENARIOS[name]
    repo = root / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    config = root / "config"
    config.mkdir()
    settings = root / "settings.json"
    command = [sys.executable, "-m", "reconciler", "hook"]
    settings.write_text(json.dumps(hooks.settings(command)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "CLAUDE"))}
    env.update(
        HOME=str(root),
        ANTHROPIC_API_KEY="sk-test-orch-e2e-0123456789abcdef",
        CLAUDE_CONFIG_DIR=str(config),
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        IS_SANDBOX="1",
        CLAUDE_CODE_MAX_RETRIES="2",
        ORCH_WORKTREE=str(repo),
        ORCH_STAGE="build",
        ORCH_ATTEMPT="1",
        ORCH_STOP_NUDGES=str(nudges),
        PYTHONPATH=str(HERE.parents[2]),
    )
    if nudges:
        env["ORCH_SIGNAL_FILE"] = str(root / "build.done")
        env["ORCH_FAILED_FILE"] = str(root / "build.failed")
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    with StubAPI(script) as stub:
        env["ANTHROPIC_BASE_URL"] = stub.url
        argv = [str(binary), "-p", "--output-format", "stream-json", "--verbose"]
        argv += ["--settings", str(settings), "--dangerously-skip-permissions", *args]
        done = subprocess.run(
            [*argv, "--", PROMPT],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    journal = repo / ".orch" / "hooks.jsonl"
    hook_text = journal.read_text() if journal.exists() else ""
    for suffix, content in (("stream", done.stdout), ("hooks", hook_text)):
        out = HERE / f"{name}.{suffix}.jsonl"
        mangled = re.sub(r"[^A-Za-z0-9]", "-", str(root))  # the CLI's projects/<cwd> folder
        out.write_text(content.replace(str(root), "/tmp/rec").replace(mangled, "-tmp-rec"))
    print(f"{name}: exit {done.returncode}, {len(done.stdout)} + {len(hook_text)} bytes")


def main() -> None:
    """Record every scenario (or those named after the binary)."""
    binary = Path(sys.argv[1]) if len(sys.argv) > 1 else PINNED
    for name in sys.argv[2:] or SCENARIOS:
        with tempfile.TemporaryDirectory(prefix="orch-rec-") as tmp:
            record(binary, name, Path(tmp))


if __name__ == "__main__":
    main()
