"""docs/setup.md, followed step by step: its Claude Desktop entry and its `claude mcp add` line.

The JSON block is parsed and its command started the way Claude Desktop starts
it (the SDK's client, the `initialize` handshake); the `claude mcp add` line is
run with the pinned Claude Code CLI, whose `claude mcp get` connects to the
server. The placeholders of the doc (/home/you/orch, /home/you/fleet,
$HOME/orch, $HOME/fleet) become this checkout and a fresh `orch init` repo.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from reconciler.cli.init import scaffold

DOC = Path(__file__).resolve().parents[2] / "docs" / "setup.md"
CHECKOUT = Path(sys.executable).parents[2]  # <checkout>/.venv/bin/python


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.DOTALL)


def private_env(tmp_path: Path) -> dict[str, str]:
    """A tmux socket of the test's own (never the user's `orch` server)."""
    return {"ORCH_TMUX_SOCKET": f"orch-doc-{os.getpid()}-{tmp_path.name[-20:]}"}


def test_the_claude_desktop_entry_starts_a_server_that_answers(tmp_path: Path) -> None:
    [config_text] = blocks("json")
    entry = json.loads(config_text)["mcpServers"]["orch"]
    assert entry["command"] == "/home/you/orch/.venv/bin/orch"
    assert entry["args"] == ["mcp"]
    assert set(entry["env"]) == {"ORCH_ROOT"}
    root = scaffold(tmp_path / "fleet")
    command = entry["command"].replace("/home/you/orch", str(CHECKOUT))
    env = {**entry["env"], "ORCH_ROOT": str(root), **private_env(tmp_path)}
    env |= {k: os.environ[k] for k in ("HOME", "PATH") if k in os.environ}

    async def desktop() -> tuple[str, list[str], Any]:
        # Only what the entry gives: Claude Desktop passes no other environment.
        params = StdioServerParameters(command=command, args=entry["args"], env=env)
        async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
            assert client.server_info is not None
            tools = await client.list_tools()
            status = await client.call_tool("fleet_status", {})
            return client.server_info.name, [t.name for t in tools.tools], status

    name, tools, status = anyio.run(desktop)
    assert name == "orch"
    assert {"fleet_status", "restart_worker", "suspend_worker"} <= set(tools)
    assert not status.is_error, status.content
    assert sorted(w["name"] for w in status.structured_content["workers"]) == [
        "demo-a",
        "demo-b",
        "demo-c",
    ]


def test_claude_mcp_add_as_the_doc_says_connects(claude_bin: Path, tmp_path: Path) -> None:
    [line] = [x for b in blocks("sh") for x in b.splitlines() if x.startswith("claude mcp add")]
    root = scaffold(tmp_path / "fleet")
    line = line.replace("$HOME/fleet", str(root)).replace("$HOME/orch", str(CHECKOUT))
    argv = shlex.split(line)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "CLAUDE"))}
    env |= {
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        **private_env(tmp_path),
    }

    def claude(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(claude_bin), *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    added = claude(*argv[1:])
    assert added.returncode == 0, added
    got = claude("mcp", "get", "orch")

    assert got.returncode == 0, got
    assert "Connected" in got.stdout, got
    assert f"ORCH_ROOT={root}" in got.stdout
    assert f"Command: {CHECKOUT}/.venv/bin/orch" in got.stdout


def test_the_doc_lists_every_tool_the_server_serves() -> None:
    from reconciler.mcp_server.control_tools import CONTROL_TOOLS
    from reconciler.mcp_server.tools import TOOLS

    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert listed == set(TOOLS + CONTROL_TOOLS)
