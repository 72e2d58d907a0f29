"""`orch mcp`'s repos, workflow and task tools, through the SDK's stdio client.

The control repo is the integration `fleet` with two real git repos as Repos
(``app`` made dirty, ``docs`` clean); workflows are real shell commands and
the task tools are checked against tasks/*.md on disk.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import psutil
from mcp import Client
from test_mcp_server import call, connected, refused  # the stdio client helpers
from test_workflows import alive  # running, not a zombie

from reconciler.drivers.git import init_repo

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
Retry = Callable[..., Any]
WORKFLOWS = {
    "hello": "echo hi from {{ repo }}; echo second line",
    "fail": "echo broken >&2; exit 3",
    "slow": "echo started; sleep 60",
}


def two_repos(fleet: Fleet) -> Path:
    """Repos ``app`` (the fleet's, with WORKFLOWS, made dirty) and ``docs`` (clean, none).

    ``app``'s workflow ``hang`` writes its sleep's pid to ``tmp/pid``.
    """
    docs = fleet.tmp / "docs"
    init_repo(docs)
    hang = f"sleep 300 & echo $! > {fleet.tmp / 'pid'}; echo started; wait"
    flows = {**WORKFLOWS, "hang": hang}
    fleet.write(
        "specs/repos.yaml",
        fleet.dump(
            fleet.document("Repo", "app", {"path": str(fleet.repo), "workflows": flows}),
            fleet.document("Repo", "docs", {"path": str(docs)}),
        ),
    )
    app = fleet.repo
    (app / "README.md").write_text("changed\n")  # unstaged
    (app / "new.txt").write_text("new\n")
    fleet.git(app, "add", "new.txt")  # staged
    for name in ("loose-1", "loose-2"):
        (app / name).write_text("")  # untracked
    return docs


def test_repos_and_run_workflow_answer_from_real_repos(fleet: Fleet) -> None:
    two_repos(fleet)

    async def session() -> None:
        async with connected(fleet) as client:
            rows = {r["name"]: r for r in (await call(client, "repos"))["repos"]}
            assert list(rows) == ["app", "docs"]
            app = rows["app"]
            counts = (app["staged"], app["unstaged"], app["untracked"], app["clean"])
            assert counts == (1, 1, 2, False)
            assert (app["branch"], app["lastCommit"]["subject"]) == ("main", "add README")
            assert (rows["docs"]["clean"], rows["docs"]["error"]) == (True, None)
            only = await call(client, "repos", names=["docs"])
            assert [r["name"] for r in only["repos"]] == ["docs"]
            assert 'unknown repo "nope"' in await refused(client, "repos", names=["nope"])

            ran = await call(client, "run_workflow", workflow="hello", repos=["app"], lines=5)
            [run] = ran["runs"]
            assert (ran["ok"], run["result"], ran["cutOff"]) == (True, "passed", False)
            assert "hi from app" in run["tail"] and "second line" in run["tail"]
            assert run["tail"][-1].startswith("# orch: passed")
            assert Path(run["log"]).is_relative_to(fleet.root / "state" / "runs")
            assert "hi from app\n" in Path(run["log"]).read_text()

            every = await call(client, "run_workflow", workflow="hello", all_repos=True)
            assert ([r["target"] for r in every["runs"]], every["skipped"]) == (["app"], ["docs"])

            failed = await call(client, "run_workflow", workflow="fail", repos=["app"])
            assert (failed["ok"], failed["runs"][0]["result"]) == (False, "failed")
            assert "broken" in failed["runs"][0]["tail"]

            missing = await refused(client, "run_workflow", workflow="deploy", repos=["app"])
            has = "its workflows: fail, hang, hello, slow"
            assert f'repo "app" has no workflow "deploy"; {has}' in missing
            assert "name a repo, or pass --all" in await refused(
                client, "run_workflow", workflow="hello"
            )
            assert 'unknown worker "nope"' in await refused(
                client, "run_workflow", workflow="hello", worker="nope"
            )
            assert "timeout" in await refused(
                client, "run_workflow", workflow="hello", repos=["app"], timeout=7200
            )
            assert "pattern" in await refused(
                client, "run_workflow", workflow="hello; rm -rf /", repos=["app"]
            )
            # still serving after the errors
            assert len((await call(client, "repos"))["repos"]) == 2

    anyio.run(session)


def test_the_call_timeout_bounds_the_whole_run_retries_included(fleet: Fleet) -> None:
    two_repos(fleet)

    async def session() -> None:
        async with connected(fleet) as client:
            start = time.monotonic()
            cut = await call(client, "run_workflow", workflow="slow", repos=["app"],
                             timeout=1.5, retries=2)  # fmt: skip
            took = time.monotonic() - start
            [run] = cut["runs"]
            assert cut["cutOff"] and not cut["ok"]
            # the per-attempt timeout or the call's deadline ended it: no retry after that
            assert run["result"] in ("timeout", "cancelled") and len(run["attempts"]) == 1
            assert "started" in run["tail"]
            assert took < 30, took  # not the 60 s of the command, nor 3 attempts

    anyio.run(session)


HANG = {"workflow": "hang", "repos": ["app"], "timeout": 1800, "stall": 600}


async def hang_started(pid_file: Path) -> int:
    """The pid of the `hang` workflow's sleep, once it has written it."""
    with anyio.fail_after(30):
        while not pid_file.is_file() or not pid_file.read_text().strip():
            await anyio.sleep(0.05)  # polling: the command has started
    return int(pid_file.read_text())


def test_a_cancelled_call_kills_its_commands_and_the_server_goes_on(
    fleet: Fleet, retry_until: Retry
) -> None:
    two_repos(fleet)
    pid_file = fleet.tmp / "pid"

    async def session() -> None:
        async with connected(fleet) as client:
            async with anyio.create_task_group() as group:
                group.start_soon(client.call_tool, "run_workflow", HANG)
                sleeper = await hang_started(pid_file)
                group.cancel_scope.cancel()  # the client sends notifications/cancelled
            await anyio.to_thread.run_sync(
                lambda: retry_until(lambda: not alive(sleeper), 20, message="command killed")
            )
            assert len((await call(client, "repos"))["repos"]) == 2

    anyio.run(session)


def test_a_signalled_server_kills_the_commands_of_a_run_in_progress(
    fleet: Fleet, retry_until: Retry
) -> None:
    two_repos(fleet)
    pid_file = fleet.tmp / "pid"

    async def answer_or_not(client: Client) -> None:
        with contextlib.suppress(Exception):  # the server goes away under the call
            await client.call_tool("run_workflow", HANG)

    async def session() -> None:
        async with connected(fleet) as client, anyio.create_task_group() as group:
            group.start_soon(answer_or_not, client)
            sleeper = await hang_started(pid_file)
            [server] = [p for p in psutil.Process().children() if "mcp" in p.cmdline()]
            server.send_signal(signal.SIGTERM)  # as a client does after closing stdin

            def gone() -> None:
                retry_until(lambda: not alive(sleeper), 20, message="the command killed")
                retry_until(lambda: not alive(server.pid), 20, message="the server exited")

            await anyio.to_thread.run_sync(gone)
            assert not alive(sleeper) and not alive(server.pid)
            group.cancel_scope.cancel()

    anyio.run(session)


def test_task_tools_edit_the_task_files_on_disk(fleet: Fleet) -> None:
    tasks = fleet.root / "tasks"

    async def session() -> None:
        async with connected(fleet) as client:
            added = await call(client, "task_add", text="Fix the flaky  parser test", repo="app")
            where = (added["id"], added["status"], added["path"])
            assert where == ("T-1", "backlog", "tasks/backlog.md")
            assert "- [ ] T-1 [app] Fix the flaky parser test\n" in (
                (tasks / "backlog.md").read_text()
            )
            async with anyio.create_task_group() as group:  # at once: each gets its own id
                for n in range(4):
                    group.start_soon(partial(call, client, "task_add", text=f"write chapter {n}"))
            listed = await call(client, "task_list")
            ids = sorted(t["id"] for t in listed["tasks"])
            assert ids == ["T-1", "T-2", "T-3", "T-4", "T-5"] and listed["problems"] == []
            backlog = (tasks / "backlog.md").read_text()
            assert len(re.findall(r"^- \[ \] T-\d", backlog, re.MULTILINE)) == 5
            mine = await call(client, "task_list", repo="app")
            assert [t["id"] for t in mine["tasks"]] == ["T-1"]

            started = await call(client, "task_start", task_id="T-1")
            assert (started["status"], started["path"]) == ("active", "tasks/active.md")
            assert "T-1 [app] Fix" in (tasks / "active.md").read_text()
            assert "T-1 " not in (tasks / "backlog.md").read_text()

            done = await call(client, "task_done", task_id="T-1")
            assert (done["status"], done["checked"]) == ("completed", True)
            today = time.strftime("%Y-%m-%d")
            completed = (tasks / "completed.md").read_text()
            assert f"- [x] T-1 [app] Fix the flaky parser test (done {today})" in completed
            assert "T-1 " not in (tasks / "active.md").read_text()
            finished = await call(client, "task_list", status="completed")
            assert [t["id"] for t in finished["tasks"]] == ["T-1"]

            unknown = await refused(client, "task_done", task_id="T-99")
            assert "no task T-99 in tasks/backlog.md" in unknown
            again = await refused(client, "task_start", task_id="T-1")
            assert "T-1 is completed" in again and "only a backlog task can go active" in again
            assert "pattern" in await refused(client, "task_start", task_id="12; rm")
            assert "status" in await refused(client, "task_list", status="doing")

    anyio.run(session)
    log = fleet.git(fleet.root, "status", "--porcelain", "tasks").stdout
    assert "tasks/" in log  # written, not committed
