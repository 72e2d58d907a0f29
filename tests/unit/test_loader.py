"""load_desired: one test per kind of spec error, each pinned to its file, line and message.

Every test builds a control repo in ``tmp_path`` (a git repo holding ``specs/``,
the prompt templates and, when a test needs it, ``config/``) from the small valid
fleet below, breaks one thing, and checks exactly what ``SpecErrors`` says.
Lines are found with :func:`line_of` (the line holding a marker) rather than
counted by hand, but they are always asserted exactly.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from reconciler.core.errors import SpecError, SpecErrors
from reconciler.core.model import Desired
from reconciler.drivers.git import init_repo
from reconciler.spec.schemas import schema_errors
from reconciler.spec.validate import load_desired
from reconciler.spec.yamlsource import parse_documents

EXAMPLES = Path(__file__).resolve().parents[1] / "data"  # the spec contract, by example
PROJECT = Path(__file__).resolve().parents[2]

REPO = """\
apiVersion: orch/v1
kind: Repo
metadata:
  name: app
spec:
  path: .
  defaultBranch: main
"""

AGENT = """\
apiVersion: orch/v1
kind: Agent
metadata:
  name: bot
spec:
  command: [sh, -c, "true"]
"""

PIPELINE = """\
apiVersion: orch/v1
kind: Pipeline
metadata:
  name: flow
spec:
  stages:
    - name: one
      prompt: prompts/one.md.j2
      stallTimeout: 10m
      timeout: 2h
      doneWhen: signal
    - name: two
      prompt: prompts/two.md.j2
"""

WORKER = """\
apiVersion: orch/v1
kind: Worker
metadata:
  name: w1
spec:
  repo: app
  pipeline: flow
  agent: bot
"""


def worker(name: str, extra: str = "", **fields: str) -> str:
    """A Worker document; ``fields`` override repo/pipeline/agent, ``extra`` is appended to spec."""
    spec = {"repo": "app", "pipeline": "flow", "agent": "bot", **fields}
    body = "".join(f"  {k}: {v}\n" for k, v in spec.items())
    return f"apiVersion: orch/v1\nkind: Worker\nmetadata:\n  name: {name}\nspec:\n{body}{extra}"


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based number of the ``nth`` line of ``text`` that contains ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} times"
    return hits[nth - 1]


def col_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based column of ``needle`` on the line :func:`line_of` finds."""
    line = text.splitlines()[line_of(text, needle, nth) - 1]
    return line.index(needle) + 1


@dataclass
class Fleet:
    """A control repo under construction."""

    root: Path

    def write(self, rel: str, text: str | bytes) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return rel

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink()

    def load(self, env: dict[str, str] | None = None) -> Desired:
        return load_desired(self.root, env)

    def errors(self, env: dict[str, str] | None = None) -> list[SpecError]:
        with pytest.raises(SpecErrors) as info:
            load_desired(self.root, env)
        errs = info.value.errors
        assert errs, "SpecErrors without errors"
        return errs

    def error(self, env: dict[str, str] | None = None) -> SpecError:
        """The one and only error of this load."""
        errs = self.errors(env)
        assert len(errs) == 1, "\n".join(map(str, errs))
        return errs[0]


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    """A valid control repo: one Repo (the root itself), Agent, Pipeline and Worker."""
    root = tmp_path / "ctl"
    init_repo(root)
    f = Fleet(root)
    f.write("prompts/one.md.j2", "Do step one for {{ worker }}.\n")
    f.write("prompts/two.md.j2", "Do step two.\n")
    f.write("specs/repo.yaml", REPO)
    f.write("specs/agent.yaml", AGENT)
    f.write("specs/pipeline.yaml", PIPELINE)
    f.write("specs/workers.yaml", WORKER)
    return f


def at(err: SpecError, path: str, line: int, col: int | None = None) -> None:
    """Assert where ``err`` points."""
    assert (err.path, err.line) == (path, line), str(err)
    if col is not None:
        assert err.col == col, str(err)


# ----------------------------------------------------------------------------- the baseline


def test_valid_fleet_loads_with_defaults_filled_in(fleet: Fleet) -> None:
    desired = fleet.load()
    assert list(desired.repos) == ["app"]
    assert [n for n, a in desired.agents.items() if not a.builtin] == ["bot"]
    assert {"claude", "codex", "aider", "shell"} <= set(desired.agents)  # built-in profiles
    assert list(desired.pipelines) == ["flow"]
    assert list(desired.workers) == ["w1"]
    w = desired.workers["w1"]
    assert (w.repo, w.pipeline, w.agent) == ("app", "flow", "bot")
    assert w.branch == "orch/w1"
    assert w.base == "main"
    assert w.worker_set is None
    assert w.source.path == "specs/workers.yaml"
    assert w.source.line == line_of(WORKER, "name: w1")
    stages = desired.pipelines["flow"].stages
    assert [s.name for s in stages] == ["one", "two"]
    assert (stages[0].stall_timeout, stages[0].timeout, stages[0].done_when) == (600.0, 7200.0,
                                                                                "signal")
    assert (stages[1].stall_timeout, stages[1].timeout) == (900.0, 1800.0)  # 15m / 30m defaults
    assert desired.repos["app"].path == fleet.root.resolve()
    assert desired.agents["bot"].command == ("sh", "-c", "true")


# ----------------------------------------------------------------------------- YAML level


def test_yaml_syntax_error_is_located(fleet: Fleet) -> None:
    text = AGENT.replace("name: bot", "name: bot2").replace("spec:\n", " spec:\n")
    fleet.write("specs/extra.yaml", text)  # ` spec:` breaks the block mapping
    err = fleet.error()
    at(err, "specs/extra.yaml", line_of(text, " spec:"), 2)
    assert err.message.startswith("YAML syntax error: ")
    assert "did not find expected key" in err.message
    assert "starts at line 1" in err.message
    assert err.obj is None


def test_yaml_syntax_error_stops_its_file_but_not_the_others(fleet: Fleet) -> None:
    # The Repo file is broken, so the worker's "unknown repo" is NOT reported (the Repo
    # document could not be read: its name is unknown) -- but the other files still are.
    text = REPO + "---\n" + "bad: [1, 2\n" + "---\n" + "also: ignored\n"
    fleet.write("specs/repo.yaml", text)
    fleet.write("specs/agent.yaml", AGENT.replace("command:", "comand:"))
    errs = fleet.errors()
    by_file = {(e.path, e.line): e.message for e in errs}
    assert any(p == "specs/repo.yaml" and "YAML syntax error" in m for (p, _), m in by_file.items())
    agent_line = line_of(AGENT, "command:")
    assert by_file[("specs/agent.yaml", agent_line)] == (
        'unknown field "comand" in spec; did you mean "command"?'
    )
    # the first, valid, document of the broken file still counts: no "unknown repo" error
    assert not any("unknown repo" in e.message for e in errs)
    # nothing from the document after the syntax error
    assert not any(e.line > line_of(text, "bad: [1, 2") + 1 for e in errs
                   if e.path == "specs/repo.yaml")


def test_document_that_is_not_a_mapping(fleet: Fleet) -> None:
    text = "- just\n- a list\n"
    fleet.write("specs/list.yaml", text)
    err = fleet.error()
    at(err, "specs/list.yaml", 1, 1)
    assert err.message == "a document must be a mapping with apiVersion, kind, metadata and spec"


def test_second_document_that_is_a_scalar_points_at_its_own_line(fleet: Fleet) -> None:
    text = AGENT + "---\njust a string\n"
    fleet.write("specs/agent.yaml", text)
    err = fleet.error()
    at(err, "specs/agent.yaml", line_of(text, "just a string"), 1)
    assert "must be a mapping" in err.message


SPARE = AGENT.replace("name: bot", "name: spare")  # an Agent nobody refers to


def test_missing_api_version(fleet: Fleet) -> None:
    text = SPARE.replace("apiVersion: orch/v1\n", "")
    fleet.write("specs/spare.yaml", text)
    err = fleet.error()
    at(err, "specs/spare.yaml", 1, 1)
    assert err.obj == "Agent/spare"
    assert err.message == 'missing required field "apiVersion" (use "orch/v1")'


def test_missing_kind(fleet: Fleet) -> None:
    text = "# a comment first\n" + SPARE.replace("kind: Agent\n", "")
    fleet.write("specs/spare.yaml", text)
    err = fleet.error()
    at(err, "specs/spare.yaml", line_of(text, "apiVersion"), 1)  # the document's first line
    assert err.message.startswith('missing required field "kind"')
    assert "Repo, Agent, Pipeline, Worker, WorkerSet" in err.message


def test_unknown_kind_suggests_the_closest(fleet: Fleet) -> None:
    text = WORKER.replace("kind: Worker", "kind: Wroker")
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "kind: Wroker"), 1)
    assert err.message == 'unknown kind "Wroker"; did you mean "Worker"?'


def test_unknown_kind_without_a_close_match_lists_the_kinds(fleet: Fleet) -> None:
    text = WORKER.replace("kind: Worker", "kind: Deployment")
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", 2, 1)
    assert err.message == (
        'unknown kind "Deployment" (kinds: Repo, Agent, Pipeline, Worker, WorkerSet)'
    )


def test_wrong_api_version(fleet: Fleet) -> None:
    text = "\n\n" + SPARE.replace("orch/v1", "orch/v2")
    fleet.write("specs/spare.yaml", text)
    err = fleet.error()
    at(err, "specs/spare.yaml", line_of(text, "apiVersion"), 1)
    assert err.obj == "Agent/spare"
    assert err.message == 'apiVersion "orch/v2" is not supported; use "orch/v1"'


@pytest.mark.parametrize("change", [("orch/v1", "orch/v2"), ("apiVersion: orch/v1\n", "")])
def test_bad_api_version_does_not_cascade_into_unknown_references(
    fleet: Fleet, change: tuple[str, str]
) -> None:
    fleet.write("specs/agent.yaml", AGENT.replace(*change))
    err = fleet.error()
    assert err.path == "specs/agent.yaml"
    assert "apiVersion" in err.message


def test_duplicate_key_is_reported_at_the_second_occurrence(fleet: Fleet) -> None:
    text = WORKER + "  pipeline: other\n"  # a second `pipeline` in the same spec mapping
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "pipeline:", nth=2), 3)
    assert err.message == 'duplicate key "pipeline"'


def test_same_key_in_different_mappings_is_not_a_duplicate(fleet: Fleet) -> None:
    # `name` in metadata and `name` in each stage: different mappings, all fine.
    fleet.load()
    assert PIPELINE.count("name:") == 3


def test_alias_bomb_is_refused_quickly_with_a_clear_message(fleet: Fleet) -> None:
    # billion laughs: 10 levels of 9-fold aliases -> 9**10 (3.5e9) strings once expanded.
    lines = ['  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 11):
        refs = ", ".join([f"*l{i - 1}"] * 9)
        lines.append(f"  l{i}: &l{i} [{refs}]")
    bomb = "\n".join(lines) + "\n"
    text = AGENT + "---\n" + worker("w2", extra="  vars:\n" + bomb.replace("  l", "    l"))
    fleet.write("specs/agent.yaml", text)
    started = time.monotonic()
    err = fleet.error()
    elapsed = time.monotonic() - started
    at(err, "specs/agent.yaml", line_of(text, "apiVersion", nth=2), 1)  # the bomb's document
    assert "expands to more than" in err.message
    assert "alias" in err.message
    assert elapsed < 5, f"the alias bomb took {elapsed:.1f}s to refuse"


def test_self_referencing_alias_is_refused(fleet: Fleet) -> None:
    fleet.write("specs/loop.yaml", "a: &a [1, *a]\n")
    err = fleet.error()
    at(err, "specs/loop.yaml", 1, 1)
    assert "alias" in err.message


def test_a_few_ordinary_aliases_are_fine(fleet: Fleet) -> None:
    text = WORKER + "  vars: &v {a: 1}\n---\n" + worker("w2", extra="  vars: *v\n")
    # an alias cannot cross documents: the second document must fail, the first must not
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    assert err.message.startswith("YAML syntax error: found undefined alias")
    at(err, "specs/workers.yaml", line_of(text, "vars: *v"))
    fleet.write("specs/workers.yaml", WORKER + "  vars: {a: &x [1, 2], b: *x}\n")
    assert dict(fleet.load().workers["w1"].vars) == {"a": [1, 2], "b": [1, 2]}


def test_file_that_is_not_utf8(fleet: Fleet) -> None:
    fleet.write("specs/bin.yaml", b"a: 1\nb: 2\nc: \xff\xfe\n")
    err = fleet.error()
    at(err, "specs/bin.yaml", 3, 1)
    assert err.message == "file is not valid UTF-8 text"


def test_control_character_is_reported_at_its_line(fleet: Fleet) -> None:
    fleet.write("specs/ctl.yaml", "a: 1\nb: 2\nc: \x00\n")
    err = fleet.error()
    assert "control characters are not allowed" in err.message
    at(err, "specs/ctl.yaml", 3)


# ----------------------------------------------------------------------------- schema level


def test_unknown_field_suggests_the_closest(fleet: Fleet) -> None:
    text = PIPELINE.replace("stallTimeout", "stallTimout")
    fleet.write("specs/pipeline.yaml", text)
    err = fleet.error()
    at(err, "specs/pipeline.yaml", line_of(text, "stallTimout"), 7)
    assert err.obj == "Pipeline/flow"
    assert err.message == (
        'unknown field "stallTimout" in spec.stages[0]; did you mean "stallTimeout"?'
    )


def test_unknown_field_without_a_close_match_lists_known_fields(fleet: Fleet) -> None:
    text = WORKER + "  colour: blue\n"
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "colour"), 3)
    assert err.message == (
        'unknown field "colour" in spec (known: adoptBranch, agent, base, branch, budget, '
        "dependsOn, host, pipeline, publish, repo, restartPolicy, suspend, vars)"
    )


def test_unknown_top_level_field(fleet: Fleet) -> None:
    text = AGENT + "status: {}\n"
    fleet.write("specs/agent.yaml", text)
    err = fleet.error()
    at(err, "specs/agent.yaml", line_of(text, "status"), 1)
    assert err.message.startswith('unknown field "status"')
    assert "metadata" in err.message


def test_missing_required_field_points_at_the_stage_item(fleet: Fleet) -> None:
    text = PIPELINE.replace("      prompt: prompts/two.md.j2\n", "")
    fleet.write("specs/pipeline.yaml", text)
    err = fleet.error()
    at(err, "specs/pipeline.yaml", line_of(text, "- name: two"), 7)  # the `- name: two` item
    assert err.message == 'missing required field "prompt" in spec.stages[1]'


def test_missing_required_field_points_at_the_spec_key(fleet: Fleet) -> None:
    text = WORKER.replace("  agent: bot\n", "")
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "spec:"), 1)
    assert err.obj == "Worker/w1"
    assert err.message == 'missing required field "agent" in spec'


def test_missing_spec_points_at_the_document(fleet: Fleet) -> None:
    text = AGENT + "---\napiVersion: orch/v1\nkind: Agent\nmetadata:\n  name: lazy\n"
    fleet.write("specs/agent.yaml", text)
    err = fleet.error()
    at(err, "specs/agent.yaml", line_of(text, "apiVersion", nth=2), 1)
    assert (err.obj, err.message) == ("Agent/lazy", 'missing required field "spec"')


@pytest.mark.parametrize("bad", ["W1", "w_1", "-w1", "w" * 64, "w.1", ""])
def test_bad_object_name(fleet: Fleet, bad: str) -> None:
    text = WORKER.replace("name: w1", f'name: "{bad}"')
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "name:"), 3)
    assert err.obj == f"Worker/{bad}"
    assert err.message.startswith(f'name "{bad}" does not match')
    assert "lowercase letters, digits and '-'" in err.message


def test_non_ascii_name_is_quoted_as_written(fleet: Fleet) -> None:
    text = WORKER.replace("name: w1", "name: wörker")
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "name:"), 3)
    assert err.message.startswith('name "wörker" does not match')


def test_name_with_a_trailing_newline_is_rejected(fleet: Fleet) -> None:
    text = WORKER.replace("name: w1", 'name: "w1\\n"')
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "name:"))
    assert "does not match" in err.message


def test_branch_with_a_trailing_newline_is_rejected(fleet: Fleet) -> None:
    text = WORKER + '  branch: "fix\\n"\n'
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "branch:"))
    assert "branch" in err.message


def test_bad_duration(fleet: Fleet) -> None:
    text = PIPELINE.replace("stallTimeout: 10m", "stallTimeout: 10 minutes")
    fleet.write("specs/pipeline.yaml", text)
    err = fleet.error()
    at(err, "specs/pipeline.yaml", line_of(text, "stallTimeout"), 7)
    assert err.message.startswith('stallTimeout "10 minutes" does not match')
    assert err.message.endswith("(durations look like 30s, 10m, 2h, 1h30m)")


def test_bad_duration_in_worker_backoff(fleet: Fleet) -> None:
    text = WORKER + "  restartPolicy:\n    backoff: {initial: soon, max: 5m}\n"
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "backoff"), col_of(text, "initial"))
    assert err.message.startswith('initial "soon" does not match')


def test_done_when_maybe(fleet: Fleet) -> None:
    text = PIPELINE.replace("doneWhen: signal", "doneWhen: maybe")
    fleet.write("specs/pipeline.yaml", text)
    err = fleet.error()
    at(err, "specs/pipeline.yaml", line_of(text, "doneWhen"), 7)
    assert err.message == 'doneWhen "maybe" is not one of: signal, exit0, any'


def test_wrong_type(fleet: Fleet) -> None:
    text = WORKER + "  suspend: sometimes\n"
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "suspend"), 3)
    assert err.message == "suspend must be a boolean, not a string"


def test_several_schema_errors_in_one_document_are_all_reported(fleet: Fleet) -> None:
    text = PIPELINE.replace("10m", "ten").replace("doneWhen: signal", "doneWhen: never")
    fleet.write("specs/pipeline.yaml", text)
    errs = fleet.errors()
    assert [(e.line, e.message.split(" ")[0]) for e in errs] == [
        (line_of(text, "stallTimeout"), "stallTimeout"),
        (line_of(text, "doneWhen"), "doneWhen"),
    ]


# ----------------------------------------------------------------------------- across objects


def test_duplicate_object_names_the_first_location(fleet: Fleet) -> None:
    fleet.write("specs/x-more.yaml", "# again\n" + WORKER)  # sorts after workers.yaml
    err = fleet.error()
    at(err, "specs/x-more.yaml", line_of(WORKER, "name: w1") + 1, 3)
    assert err.obj == "Worker/w1"
    first = line_of(WORKER, "name: w1")
    assert err.message == f'duplicate Worker "w1" (first declared at specs/workers.yaml:{first})'


def test_same_name_in_different_kinds_is_fine(fleet: Fleet) -> None:
    fleet.write("specs/workers.yaml", WORKER.replace("name: w1", "name: app"))
    assert list(fleet.load().workers) == ["app"]


def test_unknown_references_with_did_you_mean(fleet: Fleet) -> None:
    text = worker("w1", repo="ap", pipeline="flw", agent="zzzzzz")
    fleet.write("specs/workers.yaml", text)
    errs = fleet.errors()
    assert [(e.line, e.col, e.obj, e.message) for e in errs] == [
        (line_of(text, "repo:"), 3, "Worker/w1", 'unknown repo "ap"; did you mean "app"?'),
        (line_of(text, "pipeline:"), 3, "Worker/w1",
         'unknown pipeline "flw"; did you mean "flow"?'),
        (
            line_of(text, "agent:"),
            3,
            "Worker/w1",
            'unknown agent "zzzzzz" (known: aider, bot, claude, codex, shell)',
        ),
    ]
    assert {e.path for e in errs} == {"specs/workers.yaml"}


def test_unknown_reference_when_no_object_of_that_kind_exists(fleet: Fleet) -> None:
    fleet.remove("specs/agent.yaml")
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(WORKER, "agent:"), 3)
    assert err.message == 'unknown agent "bot" (known: aider, claude, codex, shell)'


def test_depends_on_unknown_worker(fleet: Fleet) -> None:
    text = WORKER + "  dependsOn: [w9]\n"
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "dependsOn"), col_of(text, "w9"))
    assert err.message == 'dependsOn: unknown worker "w9"'


def test_dependency_cycle_is_reported_once(fleet: Fleet) -> None:
    text = (worker("w1", extra="  dependsOn: [w2]\n") + "---\n"
            + worker("w2", extra="  dependsOn: [w3]\n") + "---\n"
            + worker("w3", extra="  dependsOn: [w1]\n") + "---\n"
            + worker("w4", extra="  dependsOn: [w1]\n"))
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "dependsOn"), 3)
    assert err.obj == "Worker/w1"
    assert err.message == "dependency cycle: w1 -> w2 -> w3 -> w1"


def test_acyclic_dependencies_load(fleet: Fleet) -> None:
    text = (WORKER + "---\n" + worker("w2", extra="  dependsOn: [w1]\n") + "---\n"
            + worker("w3", extra="  dependsOn: [w1, w2]\n"))
    fleet.write("specs/workers.yaml", text)
    assert fleet.load().workers["w3"].depends_on == ("w1", "w2")


def test_self_dependency_is_reported_once(fleet: Fleet) -> None:
    text = WORKER + "  dependsOn: [w1]\n"
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "dependsOn"))
    assert "itself" in err.message


def test_two_workers_on_the_same_repo_and_branch(fleet: Fleet) -> None:
    text = (worker("w1", extra="  branch: fix/x\n") + "---\n"
            + worker("w2", extra="  branch: fix/x\n"))
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    at(err, "specs/workers.yaml", line_of(text, "spec:", nth=2), 1)
    assert err.obj == "Worker/w2"
    assert err.message == ('branch "fix/x" of repo "app" is already used by worker "w1"; '
                           "give each worker its own branch")


def test_explicit_branch_colliding_with_a_default_branch(fleet: Fleet) -> None:
    text = WORKER + "---\n" + worker("w2", extra="  branch: orch/w1\n")
    fleet.write("specs/workers.yaml", text)
    err = fleet.error()
    assert err.obj == "Worker/w2"
    assert 'already used by worker "w1"' in err.message


# ----------------------------------------------------------------------------- paths


def test_prompt_template_missing(fleet: Fleet) -> None:
    fleet.remove("prompts/two.md.j2")
    err = fleet.error()
    at(err, "specs/pipeline.yaml", line_of(PIPELINE, "prompts/two.md.j2"), 7)
    assert err.obj == "Pipeline/flow"
    assert err.message.startswith('prompt template "prompts/two.md.j2" not found (looked at ')
    assert str(fleet.root.resolve() / "prompts" / "two.md.j2") in err.message


@pytest.mark.parametrize("escape", ["../../etc/passwd", "/etc/passwd", "prompts/../../x.j2"])
def test_prompt_template_escaping_the_root(fleet: Fleet, escape: str) -> None:
    text = PIPELINE.replace("prompts/one.md.j2", escape)
    fleet.write("specs/pipeline.yaml", text)
    err = fleet.error()
    at(err, "specs/pipeline.yaml", line_of(text, escape), 7)
    assert err.message == f'prompt template "{escape}" resolves outside the control repo'


def test_restart_prompt_is_checked_too(fleet: Fleet) -> None:
    text = PIPELINE + "      restartPrompt: prompts/restart.md.j2\n"
    fleet.write("specs/pipeline.yaml", text)
    err = fleet.error()
    at(err, "specs/pipeline.yaml", line_of(text, "restartPrompt"), 7)
    assert err.message.startswith('restartPrompt template "prompts/restart.md.j2" not found')


def test_duplicate_stage_names(fleet: Fleet) -> None:
    text = PIPELINE.replace("name: two", "name: one")
    fleet.write("specs/pipeline.yaml", text)
    err = fleet.error()
    at(err, "specs/pipeline.yaml", line_of(text, "- name: one", nth=2), 7)
    assert err.message == 'duplicate stage "one"'


def test_repo_path_that_does_not_exist(fleet: Fleet) -> None:
    text = REPO.replace("path: .", "path: ../nowhere")
    fleet.write("specs/repo.yaml", text)
    err = fleet.error()
    at(err, "specs/repo.yaml", line_of(text, "path:"), 3)
    assert err.obj == "Repo/app"
    assert err.message == (
        f'path "../nowhere" does not exist (resolved to {fleet.root.resolve().parent / "nowhere"})'
    )


def test_repo_path_that_is_not_a_git_repo(fleet: Fleet) -> None:
    text = REPO.replace("path: .", "path: prompts")
    fleet.write("specs/repo.yaml", text)
    err = fleet.error()
    at(err, "specs/repo.yaml", line_of(text, "path:"), 3)
    assert err.message.startswith('path "prompts" is not a git repository')


def test_repo_path_may_be_a_sibling_git_repo(fleet: Fleet, git_repo: Path) -> None:
    # git_repo is tmp_path/repo, the control repo is tmp_path/ctl
    fleet.write("specs/repo.yaml", REPO.replace("path: .", "path: ../repo"))
    assert fleet.load().repos["app"].path == git_repo.resolve()


def test_repo_with_both_path_and_url(fleet: Fleet) -> None:
    text = REPO.replace("path: .", "path: .\n  url: https://example.invalid/app.git")
    fleet.write("specs/repo.yaml", text)
    err = fleet.error()
    at(err, "specs/repo.yaml", line_of(text, "spec:"), 1)
    assert err.message == (
        "give exactly one of `path` (a local clone) or `url` (cloned under state/)"
    )


def test_repo_with_neither_path_nor_url(fleet: Fleet) -> None:
    text = REPO.replace("  path: .\n", "")
    fleet.write("specs/repo.yaml", text)
    err = fleet.error()
    at(err, "specs/repo.yaml", line_of(text, "spec:"), 1)
    assert "one of `path`" in err.message


def test_repo_with_url_is_cloned_under_clones_not_state(fleet: Fleet) -> None:
    fleet.write("specs/repo.yaml", REPO.replace("path: .", "url: https://example.invalid/a.git"))
    repo = fleet.load().repos["app"]
    assert repo.url == "https://example.invalid/a.git"
    assert repo.path == fleet.root.resolve() / "clones" / "app"


# A NUL byte ("\\0" in a double-quoted YAML string) or a 300-character component make
# pathlib raise ValueError / OSError(ENAMETOOLONG) in resolve()/is_file()/exists().
_BAD_PATHS = {"nul": '"a\\0b"', "too-long": "a" * 300}


@pytest.mark.parametrize("field", ["repo-path", "prompt", "items"])
@pytest.mark.parametrize("bad", list(_BAD_PATHS), ids=list(_BAD_PATHS))
def test_unusable_path_is_a_spec_error(fleet: Fleet, field: str, bad: str) -> None:
    value = _BAD_PATHS[bad]
    if field == "repo-path":
        rel, text = "specs/repo.yaml", REPO.replace("path: .", f"path: {value}")
        needle = "path:"
    elif field == "prompt":
        rel, text = "specs/pipeline.yaml", PIPELINE.replace("prompts/two.md.j2", value)
        needle = "a"
    else:
        rel, text = "specs/set.yaml", workerset(value)
        needle = "items:"
    fleet.write(rel, text)
    err = fleet.error()
    at(err, rel, line_of(text, needle) if field != "prompt" else line_of(text, "- name: two") + 1)
    assert err.message


# ----------------------------------------------------------------------------- WorkerSets

WORKERSET = """\
apiVersion: orch/v1
kind: WorkerSet
metadata:
  name: fixes
  labels: {team: core}
spec:
  parallelism: 2
  items: ITEMS
  nameTemplate: "{{ item.repo }}-fix-{{ item.issue }}"
  template:
    repo: "{{ item.repo }}"
    pipeline: flow
    agent: bot
    vars: {issue: "{{ item.issue }}", title: "Issue {{ item.issue }}", n: "{{ index }}"}
"""


def workerset(items: str) -> str:
    return WORKERSET.replace("ITEMS", items)


def check_generated(desired: Desired, issues: list[int], text: str) -> None:
    names = [f"app-fix-{i}" for i in issues]
    assert list(desired.workers) == ["w1", *names]
    ws = desired.worker_sets["fixes"]
    assert (ws.name, ws.parallelism, ws.workers) == ("fixes", 2, tuple(names))
    assert ws.source.line == line_of(text, "name: fixes")
    for index, (name, issue) in enumerate(zip(names, issues, strict=True)):
        w = desired.workers[name]
        assert w.worker_set == "fixes"
        assert (w.repo, w.pipeline, w.agent, w.branch, w.base) == ("app", "flow", "bot",
                                                                   f"orch/{name}", "main")
        # "{{ item.issue }}" alone keeps the item's type; mixed text renders to a string
        assert dict(w.vars) == {"issue": issue, "title": f"Issue {issue}", "n": index}
        assert type(w.vars["issue"]) is int
        assert dict(w.labels) == {"team": "core"}
        assert (w.source.path, w.source.line) == ("specs/set.yaml", line_of(text, "nameTemplate"))


def test_workerset_with_inline_items(fleet: Fleet) -> None:
    text = workerset("\n    - {repo: app, issue: 7}\n    - {repo: app, issue: 8}")
    fleet.write("specs/set.yaml", text)
    check_generated(fleet.load(), [7, 8], text)


def test_workerset_with_a_yaml_items_file(fleet: Fleet) -> None:
    text = workerset("config/issues.yaml")
    fleet.write("specs/set.yaml", text)
    fleet.write("config/issues.yaml", "# issues to fix\n- repo: app\n  issue: 3\n"
                "- {repo: app, issue: 1}\n- {repo: app, issue: 2}\n")
    check_generated(fleet.load(), [3, 1, 2], text)


def test_workerset_with_a_json_items_file(fleet: Fleet) -> None:
    text = workerset("config/issues.json")
    fleet.write("specs/set.yaml", text)
    items = [{"repo": "app", "issue": i, "title": "a\\/b"} for i in (11, 12, 13)]
    fleet.write("config/issues.json", json.dumps(items, indent="\t"))
    check_generated(fleet.load(), [11, 12, 13], text)


def test_workerset_with_no_items_makes_no_workers(fleet: Fleet) -> None:
    fleet.write("specs/set.yaml", workerset("[]"))
    desired = fleet.load()
    assert list(desired.workers) == ["w1"]
    assert desired.worker_sets["fixes"].workers == ()


def test_generated_name_breaking_the_rule_points_at_the_workerset(fleet: Fleet) -> None:
    text = workerset("[{repo: app, issue: 1}]").replace("-fix-", "_Fix_")
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "nameTemplate"), 3)
    assert err.obj == "Worker/app_Fix_1"
    assert err.message.startswith('name "app_Fix_1" does not match')


def test_generated_worker_error_points_at_the_template_line(fleet: Fleet) -> None:
    text = workerset("[{repo: app, issue: 1}, {repo: nope, issue: 2}]")
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, 'repo: "{{ item.repo }}"'), 5)
    assert err.obj == "Worker/nope-fix-2"
    assert err.message == 'unknown repo "nope" (known: app)'


def test_generated_names_colliding(fleet: Fleet) -> None:
    text = workerset("[{repo: app, issue: 1}, {repo: app, issue: 1}]")
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "nameTemplate"), 3)
    assert err.message.startswith('duplicate Worker "app-fix-1" (first declared at specs/set.yaml:')


def test_template_referring_to_a_missing_item_field(fleet: Fleet) -> None:
    text = workerset("[{repo: app}]")
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "nameTemplate"), 3)
    assert err.obj == "WorkerSet/fixes"
    assert err.message.startswith("item 0: ")
    assert "issue" in err.message


def test_single_expression_with_a_missing_item_field_is_an_error(fleet: Fleet) -> None:
    text = workerset("[{repo: app, issue: 1}]").replace('"{{ item.issue }}",', '"{{ item.isue }}",')
    fleet.write("specs/set.yaml", text)
    err = fleet.error()  # at the field that failed, not at the whole template
    at(err, "specs/set.yaml", line_of(text, "vars:"), col_of(text, "{issue:") + 1)
    assert "isue" in err.message


@pytest.mark.parametrize("expr", ["{{ item.issue / 0 }}", "{{ 2.0 ** 100000 }}"])
def test_arithmetic_error_in_a_template_is_a_spec_error(fleet: Fleet, expr: str) -> None:
    text = workerset("[{repo: app, issue: 1}]").replace('"Issue {{ item.issue }}"', f'"{expr}"')
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "vars:"), col_of(text, "title:"))
    assert err.message.startswith("item 0: ")


def test_items_file_escaping_the_root(fleet: Fleet) -> None:
    text = workerset("../x.yaml")
    fleet.write("specs/set.yaml", text)
    (fleet.root.parent / "x.yaml").write_text("- {repo: app, issue: 1}\n")  # exists, still refused
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "items:"), 3)
    assert err.obj == "WorkerSet/fixes"
    assert err.message == 'items file "../x.yaml" resolves outside the control repo'


def test_items_file_missing(fleet: Fleet) -> None:
    text = workerset("config/nope.yaml")
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "items:"), 3)
    assert err.message.startswith('items file "config/nope.yaml" not found')


def test_items_file_that_is_not_a_list(fleet: Fleet) -> None:
    fleet.write("specs/set.yaml", workerset("config/issues.yaml"))
    fleet.write("config/issues.yaml", "repo: app\nissue: 1\n")
    err = fleet.error()
    at(err, "config/issues.yaml", 1, 1)
    assert err.obj == "WorkerSet/fixes"
    assert err.message == "an items file must hold one YAML/JSON list"


def test_items_file_with_a_syntax_error_is_located_in_that_file(fleet: Fleet) -> None:
    fleet.write("specs/set.yaml", workerset("config/issues.json"))
    fleet.write("config/issues.json", '[\n  {"repo": "app", "issue": 1},\n  {"repo": "app"\n')
    err = fleet.error()
    at(err, "config/issues.json", 4, 1)  # the end of the file, where `}` was expected
    assert err.message == ("YAML syntax error: did not find expected ',' or '}' "
                           "(while parsing a flow mapping that starts at line 3)")


# ----------------------------------------------------------------------------- config/orch.yaml


def test_config_defaults_equal_the_project_config(fleet: Fleet) -> None:
    default = fleet.load().config
    fleet.write("config/orch.yaml", (PROJECT / "config" / "orch.yaml").read_text())
    assert fleet.load().config == default
    assert default.tmux_socket == "orch"
    # The fleet's identity comes from the control repo: its folder name and a hash of its path.
    assert default.fleet_name.startswith(fleet.root.name + "-")
    assert default.tmux_session == default.fleet_name
    assert default.stop_grace == 10.0
    assert (default.git_timeout, default.network_timeout, default.tmux_timeout) == (60, 600, 10)
    assert "node_modules/" in default.skip_ignored
    assert default.worktrees_root == "worktrees"
    assert default.resync == 10.0
    assert default.debounce == 0.2
    assert default.max_prune_fraction == 0.5
    assert default.git_pull is False
    assert default.pull_interval == 60.0
    assert default.host_name is None
    assert default.run_unplaced is True
    assert default.reports_path == "reports/status.md"
    assert default.reports_commit is True
    assert default.reports_push is False
    assert default.reports_author == "orch <orch@localhost>"
    assert default.reports_min_interval == 300.0
    assert default.reports_settle == 30.0
    assert default.reports_branch is None


def test_config_values_are_converted(fleet: Fleet) -> None:
    fleet.write("config/orch.yaml", "reconcile: {resync: 1h30m, debounce: 1.5s}\n"
                "host: {name: box1, runUnplaced: false}\nreports: {minInterval: 250ms}\n")
    config = fleet.load().config
    assert (config.resync, config.debounce, config.host_name, config.run_unplaced,
            config.reports_min_interval) == (5400.0, 1.5, "box1", False, 0.25)


def test_reports_push_needs_a_branch_of_its_own(fleet: Fleet) -> None:
    fleet.write("config/orch.yaml", "reports:\n  commit: true\n  push: true\n")
    err = fleet.error()
    at(err, "config/orch.yaml", 3, 3)
    assert "reports.push needs reports.branch" in err.message
    assert "would push your own unpushed commits" in err.message
    fleet.write("config/orch.yaml", "reports: {push: true, branch: orch/status, settle: 2s}\n")
    config = fleet.load().config
    assert (config.reports_push, config.reports_branch, config.reports_settle) == (
        True, "orch/status", 2.0)


@pytest.mark.parametrize("branch", ["-x", "a..b", "a b", "a/", "x.lock", "HEAD", "a@{1}", ".a"])
def test_reports_branch_must_be_a_branch_name(fleet: Fleet, branch: str) -> None:
    fleet.write("config/orch.yaml", f"reports:\n  branch: {json.dumps(branch)}\n")
    err = fleet.error()
    at(err, "config/orch.yaml", 2, 3)
    assert "is not a usable branch name" in err.message


def test_config_unknown_key(fleet: Fleet) -> None:
    text = "tmux:\n  session: orch\n  sockt: mine\n"
    fleet.write("config/orch.yaml", text)
    err = fleet.error()
    at(err, "config/orch.yaml", 3, 3)
    assert err.obj is None
    assert err.message == 'unknown field "sockt" in tmux; did you mean "socket"?'


def test_config_unknown_section(fleet: Fleet) -> None:
    fleet.write("config/orch.yaml", "reconcile: {}\nlogging: {level: debug}\n")
    err = fleet.error()
    at(err, "config/orch.yaml", 2, 1)
    known = 'unknown field "logging" (known: budget, claude, fleet, git, host, limits'
    assert err.message.startswith(known)


def test_config_bad_duration(fleet: Fleet) -> None:
    text = "reconcile:\n  resync: 10s\n  debounce: 2 seconds\n"
    fleet.write("config/orch.yaml", text)
    err = fleet.error()
    at(err, "config/orch.yaml", 3, 3)
    assert err.message.startswith('debounce "2 seconds" does not match')


def test_config_with_two_documents(fleet: Fleet) -> None:
    fleet.write("config/orch.yaml", "tmux: {}\n---\ngit: {}\n")
    err = fleet.error()
    at(err, "config/orch.yaml", 3)
    assert err.message == "config/orch.yaml holds one document"


def test_config_errors_come_with_spec_errors(fleet: Fleet) -> None:
    fleet.write("config/orch.yaml", "tmux: {sockt: x}\n")
    fleet.write("specs/workers.yaml", WORKER.replace("agent: bot", "agent: bott"))
    errs = fleet.errors()
    assert [e.path for e in errs] == ["config/orch.yaml", "specs/workers.yaml"]


def test_orch_tmux_socket_env_overrides_the_config(fleet: Fleet) -> None:
    fleet.write("config/orch.yaml", "tmux:\n  socket: from-file\n")
    assert fleet.load().config.tmux_socket == "from-file"
    assert fleet.load({}).config.tmux_socket == "from-file"
    assert fleet.load({"ORCH_TMUX_SOCKET": "from-env"}).config.tmux_socket == "from-env"
    fleet.remove("config/orch.yaml")
    assert fleet.load({"ORCH_TMUX_SOCKET": "from-env"}).config.tmux_socket == "from-env"
    assert fleet.load({"ORCH_TMUX_SOCKET": ""}).config.tmux_socket == "orch"


# ----------------------------------------------------------------------------- the whole run


def test_all_problems_of_a_run_are_reported_at_once(fleet: Fleet) -> None:
    """Five mistakes in three files: exactly those five, each at its file and line."""
    repo = REPO.replace("defaultBranch", "defaultBrnch")
    pipeline = PIPELINE.replace("10m", "10 minutes").replace("doneWhen: signal", "doneWhen: maybe")
    workers = worker("w1", pipeline="flw") + "---\n" + worker("Bad_Name")
    fleet.write("specs/repo.yaml", repo)
    fleet.write("specs/pipeline.yaml", pipeline)
    fleet.write("specs/workers.yaml", workers)
    errs = fleet.errors()
    expected = [
        ("specs/pipeline.yaml", line_of(pipeline, "stallTimeout"), "Pipeline/flow",
         'stallTimeout "10 minutes" does not match'),
        ("specs/pipeline.yaml", line_of(pipeline, "doneWhen"), "Pipeline/flow",
         'doneWhen "maybe" is not one of: signal, exit0, any'),
        ("specs/repo.yaml", line_of(repo, "defaultBrnch"), "Repo/app",
         'unknown field "defaultBrnch" in spec; did you mean "defaultBranch"?'),
        ("specs/workers.yaml", line_of(workers, "pipeline: flw"), "Worker/w1",
         'unknown pipeline "flw"; did you mean "flow"?'),
        ("specs/workers.yaml", line_of(workers, "Bad_Name"), "Worker/Bad_Name",
         'name "Bad_Name" does not match'),
    ]
    assert len(errs) == len(expected), "\n".join(map(str, errs))
    for err, (path, line, obj, message) in zip(errs, expected, strict=True):
        assert (err.path, err.line, err.obj) == (path, line, obj), str(err)
        assert err.message.startswith(message), str(err)
    # and the rendering is path:line:col: Kind/name: message
    assert str(errs[3]) == (f"specs/workers.yaml:{line_of(workers, 'pipeline: flw')}:3: "
                            'Worker/w1: unknown pipeline "flw"; did you mean "flow"?')
    assert str(SpecErrors(errs)).count("\n") == 4


def test_empty_documents_are_ignored(fleet: Fleet) -> None:
    fleet.write("specs/empty.yaml", "---\n")
    fleet.write("specs/blank.yaml", "")
    fleet.write("specs/comments.yaml", "# nothing here yet\n")
    fleet.write("specs/workers.yaml", "---\n" + WORKER + "---\n---\n")
    assert list(fleet.load().workers) == ["w1"]


def test_yml_files_and_subfolders_are_read_in_sorted_order(fleet: Fleet) -> None:
    fleet.remove("specs/workers.yaml")
    fleet.write("specs/z.yml", worker("from-z"))
    fleet.write("specs/b.yaml", worker("from-b"))
    fleet.write("specs/a/deep/x.yaml", worker("from-a-deep"))
    fleet.write("specs/c/y.yml", worker("from-c"))
    fleet.write("specs/notes.md", "not: [a spec")  # other files are not read
    fleet.write("specs/data.json", "{not json")
    fleet.write("specs/old.yaml.bak", "{broken")
    desired = fleet.load()
    assert list(desired.workers) == ["from-a-deep", "from-b", "from-c", "from-z"]
    assert desired.workers["from-c"].source.path == "specs/c/y.yml"
    # the first declaration, in that order, wins a duplicate
    fleet.write("specs/b.yaml", worker("from-a-deep"))
    err = fleet.error()
    assert err.path == "specs/b.yaml"
    assert "first declared at specs/a/deep/x.yaml:4" in err.message


def test_no_specs_folder_is_an_empty_fleet(tmp_path: Path) -> None:
    desired = load_desired(tmp_path)
    assert (dict(desired.workers), dict(desired.repos)) == ({}, {})
    assert desired.root == tmp_path.resolve()


def test_errors_come_sorted_by_file_and_line(fleet: Fleet) -> None:
    fleet.write("specs/workers.yaml", worker("w1", repo="r9", agent="a9"))
    fleet.write("specs/agent.yaml", AGENT + "  bogus: 1\n")
    errs = fleet.errors()
    keys = [(e.path, e.line, e.col) for e in errs]
    assert keys == sorted(keys)
    assert len(errs) == 3


# ----------------------------------------------------------------------------- real specs


def _project_spec_files() -> list[Path]:
    folder = PROJECT / "specs"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml"))


@pytest.mark.parametrize("path", _project_spec_files() or [None],
                         ids=lambda p: str(p.relative_to(PROJECT)) if p else "none")
def test_every_project_spec_document_passes_the_schema(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"{PROJECT / 'specs'} holds no *.yaml yet")
    docs, errs = parse_documents(str(path.relative_to(PROJECT)), path.read_bytes())
    assert not errs, "\n".join(map(str, errs))
    for doc in docs:
        if doc.data is None:
            continue
        kind = doc.data.get("kind")
        assert isinstance(kind, str), f"{path}:{doc.line}: no kind"
        found = schema_errors(doc, kind.lower(), kind)
        assert not found, "\n".join(map(str, found))


def test_the_project_specs_validate() -> None:
    if not _project_spec_files():
        pytest.skip(f"{PROJECT / 'specs'} holds no *.yaml yet")
    desired = load_desired(PROJECT, {})
    assert desired.workers or desired.repos or desired.pipelines or desired.agents


def test_every_example_document_passes_the_schema() -> None:
    raw = (EXAMPLES / "fleet.yaml").read_bytes()
    docs, errs = parse_documents("fleet.yaml", raw)
    assert not errs
    kinds = []
    for doc in docs:
        kinds.append(doc.data["kind"])
        found = schema_errors(doc, doc.data["kind"].lower(), doc.data["kind"])
        assert not found, "\n".join(map(str, found))
    assert kinds == ["Repo", "Agent", "Pipeline", "Worker", "WorkerSet"]


def test_the_example_fleet_loads_in_a_real_control_repo(tmp_path: Path) -> None:
    # The example's Repo is `path: ../staking`: make that a real git repo next to the root.
    init_repo(tmp_path / "staking")
    root = tmp_path / "control"
    root.mkdir()
    (root / "specs").mkdir()
    shutil.copy(EXAMPLES / "fleet.yaml", root / "specs" / "fleet.yaml")
    text = (EXAMPLES / "fleet.yaml").read_text()
    for prompt in re.findall(r"prompt: (\S+)", text):
        (root / prompt).parent.mkdir(parents=True, exist_ok=True)
        (root / prompt).write_text("Work on {{ vars.issue }}.\n")
    (root / "config").mkdir()
    issues = [101, 102, 103, 104, 105]
    (root / "config" / "proof-issues.yaml").write_text(
        yaml.safe_dump([{"repo": "staking", "issue": i} for i in issues]))
    desired = load_desired(root, {})
    generated = [f"staking-proof-{i}" for i in issues]
    assert list(desired.workers) == ["staking-proof-42", *generated]
    assert desired.worker_sets["proofs"].workers == tuple(generated)
    assert desired.worker_sets["proofs"].parallelism == 5
    explicit = desired.workers["staking-proof-42"]
    assert (explicit.branch, explicit.base, explicit.suspend, explicit.host) == (
        "proof/42", "main", False, None)
    assert dict(explicit.vars) == {"issue": 42, "title": "Prove reward distribution"}
    assert (explicit.restart_policy.max_restarts, explicit.restart_policy.backoff_initial,
            explicit.restart_policy.backoff_max) == (5, 10.0, 300.0)
    assert dict(explicit.labels) == {"team": "proofs"}
    for name, issue in zip(generated, issues, strict=True):
        w = desired.workers[name]
        assert (w.repo, w.pipeline, w.agent, w.branch) == ("staking", "proof", "claude",
                                                           f"orch/{name}")
        assert dict(w.vars) == {"issue": issue}
    assert desired.repos["staking"].path == (tmp_path / "staking").resolve()
    assert desired.repos["staking"].workflows["test"] == "go test ./... -count=1"
    agent = desired.agents["claude"]
    assert agent.env == {"IS_SANDBOX": "1"}
    assert agent.session_id_from == "claude-stream-json"
    stages = desired.pipelines["proof"].stages
    assert [s.name for s in stages] == ["optimize", "write_tests", "run_tests_fix", "document"]
    assert (stages[0].stall_timeout, stages[0].timeout) == (600.0, 7200.0)


def test_a_schema_error_does_not_hide_the_reference_errors_of_other_documents(
    fleet: Fleet,
) -> None:
    text = worker("w1") + "---\n" + worker("w2", "  colour: red\n") + "---\n"
    text += worker("w3", repo="nope")
    fleet.write("specs/workers.yaml", text)
    messages = [e.message for e in fleet.errors()]
    assert len(messages) == 2, messages
    assert messages[0].startswith('unknown field "colour"')
    assert messages[1] == 'unknown repo "nope" (known: app)'


# ----------------------------------------------------------------------------- agent fields


def test_fields_the_agents_kind_of_command_line_would_ignore_are_errors(fleet: Fleet) -> None:
    text = """\
apiVersion: orch/v1
kind: Agent
metadata: {name: strict}
spec:
  profile: claude
  resume: [claude, --resume, "{{ session_id }}"]
---
apiVersion: orch/v1
kind: Agent
metadata: {name: mine}
spec:
  command: [my-agent]
  permissionMode: acceptEdits
  allowedTools: [Bash, ""]
"""
    fleet.write("specs/more.yaml", text)
    errs = sorted(fleet.errors(), key=lambda e: e.line)
    assert [(e.line, e.message) for e in errs] == [
        (6, "`resume` comes with profile claude; remove it, or give `command` instead"),
        (14, "allowedTools[1]: '' should be non-empty"),
    ]
    fleet.write("specs/more.yaml", text.replace(', ""]', "]"))
    mine = [(e.line, e.message) for e in fleet.errors() if e.obj == "Agent/mine"]
    why = "is an option of a built-in `profile`; with `command`, put it in the argv"
    assert mine == [(13, f"`permissionMode` {why}"), (14, f"`allowedTools` {why}")]
