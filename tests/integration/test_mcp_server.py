"""`orch mcp` as an MCP client starts it: a subprocess on stdio, the SDK's own client.

The control repo is the integration `fleet` (real git, the test's private tmux
server, tests/agents scripts as agents); effects are checked in tmux, in
state/ and in the control repo's git history.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from reconciler.mcp_server.control_tools import CONTROL_TOOLS
from reconciler.mcp_server.tools import TOOLS

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
WatchThread = Any  # tests/integration/conftest.py:WatchThread
Retry = Callable[..., Any]
TASKS = "# Tasks\n\n- [ ] write the parser\n"


def server_params(fleet: Fleet) -> StdioServerParameters:
    """`python -m reconciler mcp` of this environment, pointed at the fleet by ORCH_ROOT."""
    env = {**os.environ, "ORCH_ROOT": str(fleet.root), "ORCH_TMUX_SOCKET": fleet.socket}
    return StdioServerParameters(command=sys.executable, args=["-m", "reconciler", "mcp"], env=env)


@asynccontextmanager
async def connected(fleet: Fleet, **kwargs: Any) -> AsyncIterator[Client]:
    async with Client(server_params(fleet), read_timeout_seconds=60, **kwargs) as client:
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """The tool's structured answer; a tool error fails the test with its text."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    """The text of a tool error (the call must be one)."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result
    return "\n".join(c.text for c in result.content if hasattr(c, "text"))


def committed_fleet(fleet: Fleet, workers: list[str]) -> None:
    """Specs, a tasks file, all committed (suspend commits the spec file), then one reconcile."""
    fleet.write(
        "config/orch.yaml",
        f"""\
        tmux: {{socket: {fleet.socket}, session: {fleet.session}}}
        reconcile: {{resync: 30s, debounce: 100ms}}
        reports: {{commit: false}}
        """,
    )
    fleet.base("sleep.sh")
    fleet.workers(workers)
    fleet.write("tasks/todo.md", TASKS)
    fleet.git(fleet.root, "add", "-A")
    fleet.git(fleet.root, "commit", "-q", "-m", "specs and tasks")
    fleet.reconcile()


def alive(fleet: Fleet) -> dict[str, str]:
    return {n: w["pane_pid"] for n, w in fleet.owned().items() if w["pane_dead"] == "0"}


def test_tools_act_on_the_fleet_and_errors_leave_the_server_serving(
    fleet: Fleet, retry_until: Retry
) -> None:
    committed_fleet(fleet, ["w1", "w2"])
    before = alive(fleet)
    assert sorted(before) == ["w1", "w2"]

    async def session() -> None:
        async with connected(fleet) as client:
            listed = await client.list_tools()
            assert sorted(t.name for t in listed.tools) == sorted(TOOLS + CONTROL_TOOLS)

            status = await call(client, "fleet_status")
            phases = {w["name"]: w["phase"] for w in status["workers"]}
            assert phases == {"w1": "Running", "w2": "Running"}

            one = await call(client, "worker_status", worker="w1", lines=5)
            assert one["worker"]["name"] == "w1"
            assert "sleep agent: worker w1, stage work, attempt 1" in one["log"]

            done = await call(client, "restart_worker", worker="w1")
            assert any("w1 start-agent work#2: restart requested" in line for line in done["done"])
            assert fleet.state("w1")["attempt"] == 2
            window = fleet.window("w1")
            assert (window["@orch-attempt"], window["pane_dead"]) == ("2", "0")
            assert window["pane_pid"] != before["w1"]

            done = await call(client, "suspend_worker", worker="w2")
            assert done["done"][0].startswith("suspended w2: specs/workers.yaml:")
            assert "suspend: true" in (fleet.root / "specs" / "workers.yaml").read_text()
            log = fleet.git(fleet.root, "log", "-1", "--format=%s", "--name-only").stdout
            assert log.split() == ["orch:", "suspend", "worker", "w2", "specs/workers.yaml"]
            retry_until(lambda: "w2" not in alive(fleet), 15, message="w2 stopped")

            unknown = await refused(client, "worker_status", worker="nope")
            assert 'no worker "nope" in this fleet (workers: w1, w2)' in unknown
            assert 'no worker "nope" in the specs' in await refused(
                client, "restart_worker", worker="nope"
            )
            assert "pattern" in await refused(client, "restart_worker", worker="Bad Name;")
            assert "lines" in await refused(client, "worker_status", worker="w1", lines=-3)
            assert "stage" in await refused(client, "restart_worker", worker="w1", stage="nope")

            plan = await call(client, "plan")  # still serving after the errors
            assert plan["actions"] == [] and plan["blocked"] == []

            fleet.workers(["w3"], file="specs/more.yaml")
            result = await call(client, "reconcile")
            started = [e["worker"] for e in result["events"] if e["verb"] == "start-agent"]
            assert started == ["w3"] and result["failed"] == 0

    anyio.run(session)
    assert "w3" in alive(fleet)


def test_resources_serve_the_report_the_tasks_and_the_playbooks(fleet: Fleet) -> None:
    committed_fleet(fleet, ["w1"])

    async def session() -> None:
        async with connected(fleet) as client:
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
            assert {
                "orch://reports/status",
                "orch://tasks/todo.md",
                "orch://playbooks/prompts/stage.md.j2",
            } <= uris

            tasks = await client.read_resource("orch://tasks/todo.md")
            assert tasks.contents[0].text == TASKS
            prompt = (fleet.root / "playbooks" / "prompts" / "stage.md.j2").read_text()
            read = await client.read_resource("orch://playbooks/prompts/stage.md.j2")
            assert read.contents[0].text == prompt

            fleet.write("tasks/later.md", "added after the server started\n")
            later = await client.read_resource("orch://tasks/later.md")
            assert later.contents[0].text == "added after the server started\n"
            for outside in ("orch://tasks/../specs/workers.yaml", "orch://tasks/missing.md"):
                with pytest.raises(MCPError):
                    await client.read_resource(outside)

            with pytest.raises(MCPError, match="call the render_report tool first"):
                await client.read_resource("orch://reports/status")
            written = await call(client, "render_report")
            assert written["path"] == str(fleet.root / "reports" / "status.md")
            report = await client.read_resource("orch://reports/status")
            assert "w1" in report.contents[0].text
            assert report.contents[0].text == (fleet.root / "reports" / "status.md").read_text()

    anyio.run(session)


def test_with_a_watcher_restart_goes_through_its_queue_and_reconcile_is_refused(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry
) -> None:
    committed_fleet(fleet, ["w1"])
    watch = watch_thread()
    retry_until(lambda: watch.passes, 20, message="a first pass of the watcher")

    async def session() -> None:
        async with connected(fleet) as client:
            done = await call(client, "restart_worker", worker="w1")
            assert any("restart requested" in line for line in done["done"]), done
            why = await refused(client, "reconcile")
            assert "orch reconcile --watch" in why and "reconciles by itself" in why
            assert (await call(client, "fleet_status"))["workers"][0]["attempt"] == 2

    anyio.run(session)
    assert watch.notices("restart w1: done"), watch.items  # the watcher did the work
    watch.close()


def test_orch_does_not_import_mcp_unless_orch_mcp_runs(fleet: Fleet) -> None:
    code = (
        "import sys\n"
        "from reconciler.cli.app import app\n"
        "try:\n"
        "    app(['--root', sys.argv[1], 'status'], standalone_mode=False)\n"
        "finally:\n"
        "    print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('mcp', 'mcp_types', 'pydantic') or m.startswith('reconciler.mcp_server'))))\n"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + code, str(fleet.root)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
