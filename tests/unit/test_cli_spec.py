"""The spec commands of the real `orch` CLI, run in a subprocess: validate, schema, get, init.

Each test runs the installed console script (or ``python -c "...main()"`` when
it is not installed) with an explicit environment: the private HOME of the
autouse fixture, and no ORCH_ROOT / ORCH_TMUX_SOCKET unless a test sets them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.drivers.git import init_repo
from reconciler.spec.schemas import load_schema

_SCRIPT = Path(sys.executable).parent / "orch"
ORCH = [str(_SCRIPT)] if _SCRIPT.is_file() else [
    sys.executable, "-c", "from reconciler.cli.app import main; main()"]

FLEET = """\
apiVersion: orch/v1
kind: Repo
metadata:
  name: app
spec:
  path: .
  workflows: {test: make test}
---
apiVersion: orch/v1
kind: Agent
metadata:
  name: bot
spec:
  command: [sh, -c, "cat > /dev/null"]
  env: {MODE: fast}
---
apiVersion: orch/v1
kind: Pipeline
metadata:
  name: flow
spec:
  stages:
    - name: plan
      prompt: prompts/plan.md.j2
    - name: build
      prompt: prompts/build.md.j2
      stallTimeout: 2m
---
apiVersion: orch/v1
kind: Worker
metadata:
  name: solo
spec:
  repo: app
  pipeline: flow
  agent: bot
  branch: feature/solo
---
apiVersion: orch/v1
kind: WorkerSet
metadata:
  name: many
spec:
  parallelism: 1
  items: [{issue: 7}, {issue: 8}]
  nameTemplate: "fix-{{ item.issue }}"
  template:
    repo: app
    pipeline: flow
    agent: bot
    vars: {issue: "{{ item.issue }}"}
"""


def orch(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `orch ARGS` with the test's environment plus ``env``."""
    full = {k: v for k, v in os.environ.items() if k not in ("ORCH_ROOT", "ORCH_TMUX_SOCKET")}
    full.update({"COLUMNS": "120", "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    full.update(env or {})
    return subprocess.run([*ORCH, *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=timeout, check=False)


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A valid control repo: 1 Repo (itself), 1 Agent, 1 Pipeline, 1 Worker + a WorkerSet of 2."""
    ctl = tmp_path / "ctl"
    init_repo(ctl)
    (ctl / "specs").mkdir()
    (ctl / "specs" / "fleet.yaml").write_text(FLEET)
    (ctl / "prompts").mkdir()
    (ctl / "prompts" / "plan.md.j2").write_text("Plan {{ vars.issue | default(\"it\") }}.\n")
    (ctl / "prompts" / "build.md.j2").write_text("Build it.\n")
    return ctl


@pytest.fixture
def broken(root: Path) -> Path:
    """The same control repo with three mistakes in two files."""
    (root / "specs" / "fleet.yaml").write_text(
        FLEET.replace("agent: bot\n  branch", "agent: bott\n  branch")
        .replace("stallTimeout: 2m", "stallTimeout: 2 minutes"))
    (root / "specs" / "extra.yml").write_text("apiVersion: orch/v1\nkind: Wroker\n")
    return root


OK_LINE = "ok: 3 workers, 1 repos, 1 pipelines, 1 agents\n"


# ----------------------------------------------------------------------------- basics


def test_version() -> None:
    done = orch("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"orch {__version__}\n", "")


def test_help_mentions_examples() -> None:
    done = orch("--help")
    assert done.returncode == 0, done.stderr
    assert "Examples:" in done.stdout
    assert "orch validate" in done.stdout
    for command in ("validate", "schema", "get", "init"):
        assert f"  {command} " in done.stdout


def test_validate_help_mentions_an_example() -> None:
    done = orch("validate", "--help")
    assert done.returncode == 0, done.stderr
    assert "Example: orch validate --json" in done.stdout
    assert "--json" in done.stdout
    assert "file:line:col" in done.stdout


@pytest.mark.parametrize("command", ["schema", "get", "init"])
def test_each_spec_command_help_has_an_example(command: str) -> None:
    done = orch(command, "--help")
    assert done.returncode == 0, done.stderr
    assert "Example" in done.stdout
    assert f"orch {command}" in done.stdout


def test_python_dash_m_runs_the_commands(root: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "reconciler.cli.app", "--root", str(root),
                           "validate"], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, OK_LINE), done.stderr


# ----------------------------------------------------------------------------- validate


def test_validate_ok(root: Path) -> None:
    done = orch("--root", str(root), "validate")
    assert (done.returncode, done.stdout, done.stderr) == (0, OK_LINE, "")


def test_validate_changes_nothing(root: Path) -> None:
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "fleet"], check=True)
    before = sorted(p.relative_to(root) for p in root.rglob("*") if ".git" not in p.parts)
    assert orch("--root", str(root), "validate").returncode == 0
    after = sorted(p.relative_to(root) for p in root.rglob("*") if ".git" not in p.parts)
    assert after == before
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--ignored"],
                            capture_output=True, text=True, check=True).stdout
    assert status == ""


def test_validate_invalid_fleet_lists_every_problem_on_stderr(broken: Path) -> None:
    done = orch("--root", str(broken), "validate")
    assert done.returncode == 1
    assert done.stdout == ""
    no_traceback(done)
    lines = done.stderr.splitlines()
    stall = FLEET.splitlines().index("      stallTimeout: 2m") + 1
    agent = FLEET.splitlines().index("  agent: bot", 30) + 1
    assert lines[0] == 'specs/extra.yml:2:1: Wroker: unknown kind "Wroker"; did you mean "Worker"?'
    assert lines[1].startswith(
        f'specs/fleet.yaml:{stall}:7: Pipeline/flow: stallTimeout "2 minutes" does not match')
    assert lines[2] == (f'specs/fleet.yaml:{agent}:3: Worker/solo: unknown agent "bott"; '
                        'did you mean "bot"?')
    assert lines[3:] == ["3 problem(s) found; nothing was changed."]


def test_validate_json_ok(root: Path) -> None:
    done = orch("--root", str(root), "validate", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "workers": 3, "repos": 1, "pipelines": 1,
                                       "agents": 1, "warnings": []}


def test_validate_json_invalid(broken: Path) -> None:
    done = orch("--root", str(broken), "validate", "--json")
    assert done.returncode == 1
    no_traceback(done)
    data = json.loads(done.stdout)
    assert data["ok"] is False
    errors = data["errors"]
    assert [(e["path"], e["col"], e["object"]) for e in errors] == [
        ("specs/extra.yml", 1, "Wroker"),
        ("specs/fleet.yaml", 7, "Pipeline/flow"),
        ("specs/fleet.yaml", 3, "Worker/solo"),
    ]
    assert errors[0] == {"path": "specs/extra.yml", "line": 2, "col": 1, "object": "Wroker",
                         "message": 'unknown kind "Wroker"; did you mean "Worker"?'}
    assert all(set(e) == {"path", "line", "col", "object", "message"} for e in errors)


def test_validate_yaml_syntax_error_is_one_line_no_traceback(root: Path) -> None:
    (root / "specs" / "bad.yaml").write_text("a: [1, 2\n")
    done = orch("--root", str(root), "validate")
    assert done.returncode == 1
    no_traceback(done)
    assert done.stderr.splitlines()[0].startswith("specs/bad.yaml:2:1: YAML syntax error: ")


def test_validate_alias_bomb_is_refused(root: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    (root / "specs" / "bomb.yaml").write_text("\n".join(lines) + "\n")
    done = orch("--root", str(root), "validate", timeout=30)
    assert done.returncode == 1
    no_traceback(done)
    assert done.stderr.startswith("specs/bomb.yaml:1:1: document expands to more than")


def test_validate_crash_in_a_template_is_one_line_no_traceback(root: Path) -> None:
    # A template that raises while rendering (an arithmetic error, see
    # test_loader.py): the CLI must still answer with one line and no traceback.
    (root / "specs" / "fleet.yaml").write_text(FLEET.replace('"{{ item.issue }}"}',
                                                             '"{{ item.issue / 0 }}"}'))
    done = orch("--root", str(root), "validate")
    assert done.returncode != 0
    no_traceback(done)
    assert len(done.stderr.strip().splitlines()) >= 1
    assert "ZeroDivisionError" in done.stderr or "division" in done.stderr


# ----------------------------------------------------------------------------- schema


def test_schema_of_one_kind() -> None:
    done = orch("schema", "worker")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["title"] == "Worker"
    assert data == load_schema("worker")
    assert set(data["properties"]["spec"]["required"]) == {"repo", "pipeline", "agent"}


def test_schema_kind_is_case_insensitive() -> None:
    done = orch("schema", "WorkerSet")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["title"] == load_schema("workerset")["title"]


def test_schema_without_a_kind_is_one_schema_for_every_kind() -> None:
    done = orch("schema")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["$id"] and data["properties"]["kind"]["enum"] == [
        "Repo", "Agent", "Pipeline", "Worker", "WorkerSet"]
    assert {kind: body["title"] for kind, body in data["$defs"].items()} == {
        kind: load_schema(kind.lower())["title"] for kind in data["$defs"]}


def test_schema_of_an_unknown_kind() -> None:
    done = orch("schema", "nope")
    assert done.returncode == 1
    assert done.stdout == ""
    no_traceback(done)
    assert done.stderr == ('error: unknown kind "nope"; use one of: repo, agent, pipeline, '
                           "worker, workerset, config\n")


def test_schema_needs_no_control_repo(tmp_path: Path) -> None:
    done = orch("schema", "repo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["title"] == "Repo"


# ----------------------------------------------------------------------------- get


def test_get_workers_json_includes_workerset_workers(root: Path) -> None:
    done = orch("--root", str(root), "get", "workers", "--json")
    assert done.returncode == 0, done.stderr
    workers = json.loads(done.stdout)["workers"]
    assert [w["name"] for w in workers] == ["solo", "fix-7", "fix-8"]
    by_name = {w["name"]: w for w in workers}
    assert by_name["solo"]["workerSet"] is None
    assert by_name["solo"]["branch"] == "feature/solo"
    assert by_name["fix-7"]["workerSet"] == "many"
    assert by_name["fix-7"]["branch"] == "orch/fix-7"
    assert by_name["fix-7"]["vars"] == {"issue": 7}  # an int, not "7"
    name_line = next(i for i, line in enumerate(FLEET.splitlines(), 1) if "nameTemplate" in line)
    assert by_name["fix-8"]["source"] == f"specs/fleet.yaml:{name_line}"


def test_get_workers_table(root: Path) -> None:
    done = orch("--root", str(root), "get", "workers")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows[0] == ["NAME", "REPO", "PIPELINE", "AGENT", "BRANCH", "BASE", "SET"]
    assert rows[1][:5] == ["solo", "app", "flow", "bot", "feature/solo"]
    assert [r[0] for r in rows[1:]] == ["solo", "fix-7", "fix-8"]
    assert rows[2][-1] == "many"


def test_get_repos_table(root: Path) -> None:
    done = orch("--root", str(root), "get", "repos")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PATH", "URL", "DEFAULT-BRANCH"]
    assert lines[1].split() == ["app", str(root.resolve()), "-", "main"]
    assert len(lines) == 2


def test_get_pipelines_table(root: Path) -> None:
    done = orch("--root", str(root), "get", "pipelines")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STAGES"]
    assert lines[1].split(None, 1) == ["flow", "plan -> build"]


def test_get_agents_table(root: Path) -> None:
    done = orch("--root", str(root), "get", "agents")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["NAME", "COMMAND"]
    assert lines[1].split(None, 1) == ["bot", "sh -c cat > /dev/null"]


@pytest.mark.parametrize("kind", ["repos", "pipelines", "agents"])
def test_get_json_of_other_kinds(root: Path, kind: str) -> None:
    done = orch("--root", str(root), "get", kind, "--json")
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)[kind]
    assert [i["name"] for i in items] == [{"repos": "app", "pipelines": "flow",
                                          "agents": "bot"}[kind]]
    if kind == "pipelines":
        assert [s["stallTimeout"] for s in items[0]["stages"]] == [900.0, 120.0]
    if kind == "agents":
        assert items[0]["env"] == {"MODE": "fast"}
    if kind == "repos":
        assert items[0]["workflows"] == {"test": "make test"}


def test_get_singular_kind_is_accepted(root: Path) -> None:
    done = orch("--root", str(root), "get", "worker", "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["workers"]) == 3


def test_get_unknown_kind(root: Path) -> None:
    done = orch("--root", str(root), "get", "nope")
    assert done.returncode == 1
    no_traceback(done)
    assert done.stderr == (
        'error: cannot get "nope"; use one of: workers, repos, pipelines, agents\n'
    )


def test_get_on_an_invalid_fleet_reports_the_errors(broken: Path) -> None:
    done = orch("--root", str(broken), "get", "workers")
    assert done.returncode == 1
    no_traceback(done)
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1] == "3 problem(s) found; nothing was changed."


# ----------------------------------------------------------------------------- init


def test_init_makes_a_control_repo_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "new" / "fleet"
    done = orch("init", str(target))
    assert done.returncode == 0, done.stderr
    assert f"created control repo in {target.resolve()}" in done.stdout
    valid = orch("--root", str(target), "validate")
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("ok: ")
    assert (target / ".git").is_dir()
    head = subprocess.run(["git", "-C", str(target), "log", "--format=%s"], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    assert head[0] == "orch init: example control repo"
    status = subprocess.run(["git", "-C", str(target), "status", "--porcelain"],
                            capture_output=True, text=True, check=True).stdout
    assert status == "", "init left files uncommitted"
    gitignore = (target / ".gitignore").read_text().splitlines()
    assert "state/" in gitignore
    tracked = subprocess.run(["git", "-C", str(target), "ls-files"], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    assert ".gitignore" in tracked
    assert any(t.startswith("specs/") for t in tracked)
    assert "config/orch.yaml" in tracked


def test_init_into_an_existing_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    done = orch("init", str(target))
    assert done.returncode == 0, done.stderr
    assert orch("--root", str(target), "validate").returncode == 0


def test_init_refuses_a_non_empty_folder_and_leaves_it_untouched(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    (target / "specs").mkdir()
    done = orch("init", str(target))
    assert done.returncode == 1
    no_traceback(done)
    assert "is not empty" in done.stderr
    assert sorted(p.name for p in target.rglob("*")) == ["notes.txt", "specs"]
    assert (target / "notes.txt").read_text() == "mine\n"


def test_init_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    done = orch("init", str(target))
    assert done.returncode == 1
    no_traceback(done)
    assert "is not a folder" in done.stderr
    assert target.read_text() == "x"


# ----------------------------------------------------------------------------- finding the root


def test_root_is_found_from_a_subfolder(root: Path) -> None:
    deep = root / "prompts" / "sub" / "deeper"
    deep.mkdir(parents=True)
    done = orch("validate", cwd=deep)
    assert (done.returncode, done.stdout) == (0, OK_LINE), done.stderr
    done = orch("get", "repos", cwd=root / "specs")
    assert done.returncode == 0, done.stderr
    assert str(root.resolve()) in done.stdout


def test_root_is_found_by_config_alone(tmp_path: Path) -> None:
    ctl = tmp_path / "ctl"
    (ctl / "config").mkdir(parents=True)
    (ctl / "config" / "orch.yaml").write_text("tmux: {sockt: x}\n")
    sub = ctl / "a" / "b"
    sub.mkdir(parents=True)
    done = orch("validate", cwd=sub)
    assert done.returncode == 1
    assert done.stderr.startswith("config/orch.yaml:1:8: unknown field \"sockt\" in tmux")


def test_orch_root_env_is_honoured(root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = orch("validate", cwd=elsewhere, env={"ORCH_ROOT": str(root)})
    assert (done.returncode, done.stdout) == (0, OK_LINE), done.stderr


def test_root_option_wins_over_orch_root(root: Path, broken_elsewhere: Path) -> None:
    done = orch("--root", str(root), "validate", env={"ORCH_ROOT": str(broken_elsewhere)})
    assert (done.returncode, done.stdout) == (0, OK_LINE), done.stderr
    done = orch("validate", cwd=root, env={"ORCH_ROOT": str(broken_elsewhere)})
    assert done.returncode == 1
    assert done.stderr.startswith("specs/x.yaml:1:1: a document must be a mapping")


def test_without_a_control_repo_validate_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    done = orch("validate", cwd=tmp_path)
    assert done.returncode == 1, done
    assert done.stderr.startswith(f"error: no control repo at {tmp_path.resolve()} or above it")
    assert "orch init DIR" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no state/, no reports/


@pytest.fixture
def broken_elsewhere(tmp_path: Path) -> Path:
    other = tmp_path / "other"
    (other / "specs").mkdir(parents=True)
    (other / "specs" / "x.yaml").write_text("[1, 2]\n")
    return other
