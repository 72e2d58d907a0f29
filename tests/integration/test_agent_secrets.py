"""Secrets in an Agent's env: ``${VAR}`` from orch's environment, and literal values.

The Agent ``secretive`` has ``ANTHROPIC_API_KEY: ${SOME_VAR}`` and a literal
``MY_TOKEN``; its program (tests/agents/write_env.sh) writes the values it got
to ``<worktree>/.orch/env.seen`` and prints only their lengths. orch must:
refuse to start agents while SOME_VAR is unset (and say where), keep every
command that starts nothing working, hand the values to the agent through a
private env file only, and never let a value show in a process's command line,
tmux, state, events, the report, status, or the run log.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Callable, Iterable
from typing import Any

import pytest

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
Retry = Callable[..., Any]

SPEC_FILE = "specs/fleet.yaml"
LITERAL = "s3cr3t-literal-value"
NOT_SET = (
    'Agent/secretive: env ANTHROPIC_API_KEY: "${SOME_VAR}" is not set in the environment '
    "orch runs in; export SOME_VAR before running orch"
)


def write_specs(fleet: Fleet, workers: Iterable[str] = ("w1",)) -> None:
    agent = {
        "command": ["sh", str(fleet.agents_dir / "write_env.sh"), "ANTHROPIC_API_KEY", "MY_TOKEN"],
        "env": {"ANTHROPIC_API_KEY": "${SOME_VAR}", "MY_TOKEN": LITERAL},
    }
    docs = [
        fleet.document("Repo", fleet.repo_name, {"path": str(fleet.repo), "defaultBranch": "main"}),
        fleet.document("Agent", "secretive", agent),
        fleet.document("Pipeline", "p", {"stages": [fleet.stage("work")]}),
        *(
            fleet.document(
                "Worker", name, {"repo": fleet.repo_name, "pipeline": "p", "agent": "secretive"}
            )
            for name in workers
        ),
    ]
    fleet.write(SPEC_FILE, fleet.dump(*docs))


def seen(fleet: Fleet, worker: str) -> Callable[[], dict[str, str] | None]:
    """A probe: the variables the agent wrote, once it wrote them."""
    path = fleet.worktree(worker) / ".orch" / "env.seen"

    def probe() -> dict[str, str] | None:
        if not path.exists():
            return None
        return dict(line.split("=", 1) for line in path.read_text().splitlines())

    return probe


def key_position(fleet: Fleet) -> tuple[int, int]:
    """Line and column (1-based) of ``ANTHROPIC_API_KEY:`` in the spec file."""
    lines = (fleet.root / SPEC_FILE).read_text().splitlines()
    (found,) = [(n, line) for n, line in enumerate(lines, 1) if "ANTHROPIC_API_KEY:" in line]
    return found[0], found[1].index("ANTHROPIC_API_KEY") + 1


def state_files(fleet: Fleet) -> dict[str, bytes]:
    """Every file under state/ (but the lock), by path: what a refused command must not touch."""
    state = fleet.root / "state"
    return {
        str(p.relative_to(state)): p.read_bytes()
        for p in sorted(state.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_validate_fails_naming_the_unset_variable_where_it_is_used(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOME_VAR", raising=False)
    write_specs(fleet)

    done = fleet.cli("validate")

    assert done.returncode == 1, done
    line, col = key_position(fleet)
    assert done.stderr.splitlines() == [
        f"{SPEC_FILE}:{line}:{col}: {NOT_SET}",
        "1 problem(s) found; nothing was changed.",
    ]
    assert done.stdout == ""
    # set, even to an empty value: valid
    assert fleet.cli("validate", env={"SOME_VAR": ""}).returncode == 0
    assert fleet.cli("validate", env={"SOME_VAR": "x"}).stdout.startswith("ok: 1 workers")


def test_without_the_variable_commands_that_start_nothing_work_and_reconcile_refuses(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, retry_until: Retry
) -> None:
    monkeypatch.setenv("SOME_VAR", "value-" + secrets.token_hex(8))
    write_specs(fleet, ["w1"])
    assert fleet.cli("reconcile").returncode == 0
    retry_until(seen(fleet, "w1"), message="w1's agent to start")
    monkeypatch.delenv("SOME_VAR")
    write_specs(fleet, ["w1", "w2"])  # something to do: a new worker
    windows, state = fleet.windows(), state_files(fleet)

    done = fleet.cli("reconcile")

    assert done.returncode == 1, done
    line, col = key_position(fleet)
    assert f"{SPEC_FILE}:{line}:{col}: {NOT_SET}" in done.stderr.splitlines()
    assert "nothing was changed" in done.stderr
    assert fleet.windows() == windows  # w1's agent untouched, no window for w2
    assert state_files(fleet) == state
    assert not fleet.worktree("w2").exists()

    done = fleet.cli("status", "--json")
    assert done.returncode == 0, done
    phases = {r["name"]: r["phase"] for r in json.loads(done.stdout)["workers"]}
    assert phases["w1"] == "Running"
    assert set(phases) == {"w1", "w2"}
    done = fleet.cli("status")
    assert done.returncode == 0, done
    done = fleet.cli("get", "workers")
    assert done.returncode == 0, done
    assert [row.split()[0] for row in done.stdout.splitlines()[1:]] == ["w1", "w2"]
    done = fleet.cli("get", "agents", "--json")
    assert done.returncode == 0, done

    done = fleet.cli("cleanup", "--all", "--yes")
    assert done.returncode == 0, done
    assert fleet.window("w1") is None
    assert not fleet.worktree("w1").exists()
    assert str(fleet.worktree("w1")) not in fleet.worktrees()


@pytest.fixture
def running(fleet: Fleet, monkeypatch: pytest.MonkeyPatch, retry_until: Retry) -> str:
    """SOME_VAR set (a fresh value, returned); ``w1`` reconciled through the CLI and running."""
    value = "sk-ant-" + secrets.token_hex(12)
    monkeypatch.setenv("SOME_VAR", value)
    write_specs(fleet)
    done = fleet.cli("reconcile")
    assert done.returncode == 0, done
    assert value not in done.stdout + done.stderr
    assert LITERAL not in done.stdout + done.stderr
    retry_until(seen(fleet, "w1"), message="w1's agent to write what it got")
    return value


def test_the_agent_gets_the_values_and_they_show_nowhere_else(
    fleet: Fleet, running: str, retry_until: Retry
) -> None:
    value = running
    got = seen(fleet, "w1")()
    assert got == {"ANTHROPIC_API_KEY": value, "MY_TOKEN": LITERAL}
    log = fleet.logs("w1") / "work-1.log"
    retry_until(lambda: "MY_TOKEN has" in log.read_text(), message="the agent's output")

    places: dict[str, str] = {}
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    places["ps -eo args"] = ps.stdout
    places["tmux pane_start_command"] = fleet.tmux(
        "list-panes", "-a", "-F", "#{pane_start_command}"
    ).stdout
    for rel, text in (("orch report", fleet.cli("report")), ("status", fleet.cli("status"))):
        assert text.returncode == 0, text
        places[rel] = text.stdout + text.stderr
    for args in (
        ("status", "--json"),
        ("get", "agents", "--json"),
        ("agents", "--json"),
        ("logs", "w1"),
        ("plan", "--json"),
    ):
        done = fleet.cli(*args)
        assert done.returncode in (0, 2), done
        places["orch " + " ".join(args)] = done.stdout + done.stderr
    state = fleet.root / "state"
    written = [p for p in state.rglob("*") if p.is_file() and p.suffix != ".env"]
    assert {"events.jsonl", "w1.json", "work-1.log", "work-1.prompt.md"} <= {
        p.name for p in written
    }
    for path in written:
        places[str(path.relative_to(fleet.root))] = path.read_text(errors="replace")
    report = fleet.root / "reports" / "status.md"
    places["reports/status.md"] = report.read_text()
    assert "w1" in places["reports/status.md"]

    leaks = {where for where, text in places.items() if value in text}
    assert not leaks, leaks
    # state/desired.json (the specs, remembered for `orch status`) holds the spec's literal
    # as written, like specs/ itself; nowhere else shows it
    literal = {where for where, text in places.items() if LITERAL in text}
    assert literal <= {"state/desired.json"}, literal
    agents = {a["name"]: a for a in json.loads(places["orch get agents --json"])["agents"]}
    assert agents["secretive"]["env"] == {"ANTHROPIC_API_KEY": "${SOME_VAR}", "MY_TOKEN": "***"}
    assert "MY_TOKEN has 20 characters" in places[str(log.relative_to(fleet.root))]


def test_the_env_file_is_private_and_sourced_by_the_window(fleet: Fleet, running: str) -> None:
    env_file = fleet.logs("w1") / "work-1.env"

    assert (env_file.stat().st_mode & 0o777) == 0o600
    lines = env_file.read_text().splitlines()
    assert f"ANTHROPIC_API_KEY={running}" in lines
    assert f"MY_TOKEN={LITERAL}" in lines
    assert f"ORCH_SIGNAL_FILE={fleet.worktree('w1') / '.orch/signals/work.done'}" in lines
    panes = fleet.tmux("list-panes", "-a", "-F", "#{pane_start_command}").stdout.splitlines()
    (command,) = [line for line in panes if "write_env.sh" in line]
    assert re.search(rf"\. {re.escape(str(env_file))};", command), command
    assert running not in command
    assert LITERAL not in command


def test_a_value_the_agent_prints_is_masked_in_what_orch_writes(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, retry_until: Retry
) -> None:
    # ANTHROPIC_API_KEY's value comes from SOME_VAR, whose own name says nothing of a
    # secret: it is still the value of a KEY, masked wherever orch quotes the agent's output
    value = "sk-ant-" + secrets.token_hex(12)
    monkeypatch.setenv("SOME_VAR", value)
    leaky = {
        "command": ["sh", "-c", 'echo "debug: key=$ANTHROPIC_API_KEY token=$MY_TOKEN"; exit 3'],
        "env": {"ANTHROPIC_API_KEY": "${SOME_VAR}", "MY_TOKEN": LITERAL},
    }
    policy = {"maxRestarts": 1, "backoff": {"initial": "1s", "max": "1s"}}
    docs = [
        fleet.document("Repo", fleet.repo_name, {"path": str(fleet.repo), "defaultBranch": "main"}),
        fleet.document("Agent", "leaky", leaky),
        fleet.document("Pipeline", "p", {"stages": [fleet.stage("work")]}),
        fleet.document(
            "Worker",
            "w1",
            {"repo": fleet.repo_name, "pipeline": "p", "agent": "leaky", "restartPolicy": policy},
        ),
    ]
    fleet.write(SPEC_FILE, fleet.dump(*docs))
    fleet.reconcile()
    retry_until(fleet.dead_window("w1"), message="attempt 1 to crash")
    fleet.reconcile()  # Backoff
    later = fleet.state("w1")["backoff_until"] + 0.5
    fleet.reconcile(clock=lambda: later)  # attempt 2, with a restart prompt quoting the log
    retry_until(lambda: fleet.state("w1")["attempt"] == 2 and fleet.dead_window("w1")())
    fleet.reconcile()  # over maxRestarts: Failed, its log tail in the report
    assert fleet.state("w1")["phase"] == "Failed"

    done = fleet.cli("report")

    assert done.returncode == 0, done
    report = (fleet.root / "reports" / "status.md").read_text()
    assert "debug: key=*** token=***" in report  # the failure's log tail, masked
    restart_prompt = (fleet.logs("w1") / "work-2.prompt.md").read_text()
    assert "debug: key=*** token=***" in restart_prompt
    assert value not in report + restart_prompt
    assert value in (fleet.logs("w1") / "work-1.log").read_text()  # the agent's own output
