"""Mistakes `validate` catches before a worker runs, each at the file and line to fix.

Prompt and report templates (syntax, unknown names, a render that fails for
some workers), WorkerSet items that carry their own dependencies, one message
per mistake, durations given as numbers, argv that cannot run. Each test
builds the small valid control repo of test_loader.py and breaks one thing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_loader import AGENT, PIPELINE, REPO, WORKER, Fleet, at, line_of

from reconciler.core import agent_command, report
from reconciler.data import REPORT_TEMPLATE, RESTART_TEMPLATE, packaged
from reconciler.drivers.git import init_repo
from reconciler.spec.argv import missing_programs
from reconciler.spec.templates import (
    prompt_names,
    report_names,
    restart_names,
    sample_context,
    static_problem,
)

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    """A valid control repo: Repo ``app`` (itself), Agent ``bot``, Pipeline ``flow``, Worker w1."""
    f = Fleet(tmp_path / "ctl")
    init_repo(f.root)
    f.write("prompts/one.md.j2", "Do step one for {{ worker }}.\n")
    f.write("prompts/two.md.j2", "Do step two.\n")
    for name, text in (("repo", REPO), ("agent", AGENT), ("pipeline", PIPELINE)):
        f.write(f"specs/{name}.yaml", text)
    f.write("specs/workers.yaml", WORKER)
    return f


def workers(*specs: str) -> str:
    return "---\n".join(WORKER.replace("name: w1", f"name: {s.split()[0]}") + "".join(
        f"  {line}\n" for line in s.split(" ", 1)[1:]) for s in specs)  # fmt: skip


# ----------------------------------------------------------------------------- prompt templates


def test_a_prompt_syntax_error_is_the_templates_own_file_and_line(fleet: Fleet) -> None:
    fleet.write("prompts/one.md.j2", "Step one.\n\n{{ worker + }}\nmore\n")
    err = fleet.error()
    at(err, "prompts/one.md.j2", 3)
    assert err.obj == "Pipeline/flow"
    assert err.message.startswith("template syntax error: ")


def test_an_unclosed_block_is_a_syntax_error_too(fleet: Fleet) -> None:
    fleet.write("prompts/two.md.j2", "a\n{% for s in stages %}\n{{ s }}\n")
    err = fleet.error()
    assert err.path == "prompts/two.md.j2" and err.line >= 2
    assert "Unexpected end of template" in err.message


def test_an_unknown_name_is_its_line_with_the_name_meant(fleet: Fleet) -> None:
    fleet.write("prompts/one.md.j2", "Worker {{ worker }}\nstage {{ stgae }}\n")
    err = fleet.error()
    at(err, "prompts/one.md.j2", 2)
    assert err.message == 'unknown variable "stgae"; did you mean "stage"?'


def test_an_unknown_name_in_a_branch_no_render_takes_is_caught(fleet: Fleet) -> None:
    fleet.write("prompts/one.md.j2", "{% if attempt > 50 %}\n\n{{ nope }}\n{% endif %}\n")
    err = fleet.error()
    at(err, "prompts/one.md.j2", 3)
    assert err.message.startswith('unknown variable "nope" (known: attempt, base, branch,')


def test_a_var_without_prefix_suggests_vars(fleet: Fleet) -> None:
    fleet.write("specs/workers.yaml", WORKER + "  vars: {issue: 7}\n")
    fleet.write("prompts/two.md.j2", "Fix {{ issue }}.\n")
    err = fleet.error()
    at(err, "prompts/two.md.j2", 1)
    assert err.message == 'unknown variable "issue"; did you mean "vars.issue"?'


def test_a_var_some_workers_lack_is_one_error_naming_them(fleet: Fleet) -> None:
    fleet.write("specs/workers.yaml", workers("w1 vars: {issue: 7}", "w2", "w3"))
    fleet.write("prompts/one.md.j2", "Work.\n\nFix #{{ vars.issue }}.\n")
    err = fleet.error()
    at(err, "prompts/one.md.j2", 3)
    assert err.obj == "Pipeline/flow"
    assert err.message == "stage one: 'dict object' has no attribute 'issue' (for workers w2, w3)"


def test_a_stage_prompt_cannot_use_the_restart_names(fleet: Fleet) -> None:
    fleet.write("prompts/two.md.j2", "{{ summary }}\n")
    assert fleet.error().message.startswith('unknown variable "summary"')


def test_the_control_repos_restart_prompt_is_checked(fleet: Fleet) -> None:
    rel = RESTART_TEMPLATE  # used by every stage that names no restartPrompt
    fleet.write(rel, "{{ summary }} {{ stage_prompt }}\n{{ reasn }}\n")
    err = fleet.error()
    at(err, rel, 2)
    assert err.message == 'unknown variable "reasn"; did you mean "reason"?'
    fleet.write(rel, "{{ summary }} {{ stage_prompt }} {{ reason }}\n")
    fleet.load()


def test_a_stage_restart_prompt_renders_for_each_worker(fleet: Fleet) -> None:
    fleet.write("specs/pipeline.yaml", PIPELINE.replace(
        "prompt: prompts/two.md.j2", "prompt: prompts/two.md.j2\n      restartPrompt: r.md.j2"))
    fleet.write("r.md.j2", "Again:\n{{ vars.why | upper }}\n")
    err = fleet.error()
    at(err, "r.md.j2", 2)
    assert err.message == "stage two: 'dict object' has no attribute 'why' (for worker w1)"


def test_the_control_repos_report_template_is_checked(fleet: Fleet) -> None:
    fleet.write(REPORT_TEMPLATE, "# Fleet\n{% for w in workers %}\n{{ w.name }}\n")
    err = fleet.error()
    assert (err.path, err.obj) == (REPORT_TEMPLATE, "report template")
    assert "Unexpected end of template" in err.message
    fleet.write(REPORT_TEMPLATE, "# Fleet\n{{ revison.sha }}\n")
    err = fleet.error()
    at(err, REPORT_TEMPLATE, 2)
    assert err.message == 'unknown variable "revison"; did you mean "revision"?'


def test_the_names_the_readme_lists_are_the_names_a_prompt_gets(fleet: Fleet) -> None:
    readme = (PROJECT / "README.md").read_text()
    text = readme[readme.index("Prompt templates (jinja2, sandboxed) see"):]
    marks = ["; a restart prompt also sees", "; an Agent's argv also", "`orch validate`"]
    parts = [text[: text.index(marks[0])], text[text.index(marks[0]): text.index(marks[1])],
             text[text.index(marks[1]): text.index(marks[2])]]  # fmt: skip
    base, restart, argv = (set(re.findall(r"`([a-z_]+)`", part)) for part in parts)
    desired = fleet.load()
    names = prompt_names(desired)
    assert base and base <= names, base - names
    assert restart == restart_names(desired) - names
    ctx = agent_command.argv_context(sample_context(desired), "", "", None)
    assert argv == set(ctx) - names


def test_orchs_own_restart_and_report_templates_pass_the_check(fleet: Fleet) -> None:
    desired = fleet.load()
    restart = packaged(RESTART_TEMPLATE)
    assert static_problem(restart, restart_names(desired)) is None
    env = report.environment()
    assert static_problem(packaged(REPORT_TEMPLATE), report_names(), env=env) is None


# ----------------------------------------------------------------------------- WorkerSet items

SET = """\
apiVersion: orch/v1
kind: WorkerSet
metadata:
  name: chain
spec:
  items: ITEMS
  nameTemplate: "c-{{ item.id }}"
  template:
    repo: app
    pipeline: flow
    agent: bot
    dependsOn: "{{ item.deps }}"
"""


def test_an_item_carries_its_own_dependencies_as_a_list(fleet: Fleet) -> None:
    items = "\n    - {id: a}\n    - {id: b, deps: [c-a]}\n    - {id: c, deps: [c-a, c-b, w1]}"
    fleet.write("specs/set.yaml", SET.replace("ITEMS", items))
    desired = fleet.load()
    deps = {name: w.depends_on for name, w in desired.workers.items()}
    assert deps == {"w1": (), "c-a": (), "c-b": ("c-a",), "c-c": ("c-a", "c-b", "w1")}


def test_an_item_without_a_key_leaves_an_optional_field_at_its_default(fleet: Fleet) -> None:
    text = SET.replace("ITEMS", "[{id: a, branch: fix/a}, {id: b}]").replace(
        "agent: bot", 'agent: bot\n    branch: "{{ item.branch }}"\n    suspend: "{{ item.off }}"')
    fleet.write("specs/set.yaml", text)
    desired = fleet.load()
    assert [(w.branch, w.suspend) for n, w in desired.workers.items() if n != "w1"] == [
        ("fix/a", False), ("orch/c-b", False)]


def test_an_item_whose_dependencies_are_not_a_list_is_an_error(fleet: Fleet) -> None:
    text = SET.replace("ITEMS", "[{id: a, deps: w1}]")
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "dependsOn"))
    assert err.message == "dependsOn must be a list, not a string"


def test_a_missing_key_of_a_field_without_default_is_still_an_error(fleet: Fleet) -> None:
    text = SET.replace("ITEMS", "[{id: a}]").replace("agent: bot", 'agent: "{{ item.agent }}"')
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "agent:"))
    assert err.message == "item 0: 'dict object' has no attribute 'agent'"


def test_a_template_mistake_is_one_message_for_every_item(fleet: Fleet) -> None:
    text = SET.replace("ITEMS", "[{id: a}, {id: b}, {id: c}, {id: d}]").replace(
        "agent: bot", 'agent: bot\n    branch: "fix..{{ item.id }}"')
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "branch:"))
    assert err.obj == "Worker/c-a"
    assert err.message.endswith("(the same in c-b, c-c, c-d)")


def test_an_item_template_error_in_every_item_is_one_message(fleet: Fleet) -> None:
    text = SET.replace("ITEMS", "[{id: a}, {id: b}, {id: c}]").replace("item.id", "item.ident")
    fleet.write("specs/set.yaml", text)
    err = fleet.error()
    at(err, "specs/set.yaml", line_of(text, "nameTemplate"))
    assert err.message == "items 0, 1, 2: 'dict object' has no attribute 'ident'"


def test_a_dependency_on_an_item_that_failed_is_not_a_second_error(fleet: Fleet) -> None:
    text = SET.replace("ITEMS", "[{id: a, n: 0}, {id: b, n: 1, deps: [c-a]}]").replace(
        "agent: bot", 'agent: bot\n    vars: {share: "{{ 1 / item.n }}"}')
    fleet.write("specs/set.yaml", text)
    fleet.write("specs/workers.yaml", WORKER + "  dependsOn: [c-a]\n")
    err = fleet.error()  # c-a's division by zero; not "unknown worker c-a" twice
    assert err.message.startswith("item 0: ") and "division by zero" in err.message


def test_a_dependency_on_a_worker_whose_name_failed_is_not_reported(fleet: Fleet) -> None:
    fleet.write("specs/set.yaml", SET.replace("ITEMS", "[{id: a}, {idd: b}]"))
    fleet.write("specs/workers.yaml", WORKER + "  dependsOn: [c-b]\n")
    err = fleet.error()
    assert err.obj == "WorkerSet/chain" and err.message.startswith("item 1: ")


def test_a_dependency_on_a_workerset_that_failed_its_schema_is_not_reported(fleet: Fleet) -> None:
    text = SET.replace("ITEMS", "[{id: a}]").replace("  items:", "  parallelism: 0\n  items:")
    fleet.write("specs/set.yaml", text)
    fleet.write("specs/workers.yaml", WORKER + "  dependsOn: [c-a]\n")
    err = fleet.error()
    assert err.obj == "WorkerSet/chain" and err.message.startswith("parallelism")


# ----------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("value", "meant"), [("60", "60s"), ("1.5", "1.5s")])
def test_a_duration_given_as_a_number_says_what_was_meant(
    fleet: Fleet, value: str, meant: str
) -> None:
    text = PIPELINE.replace("stallTimeout: 10m", f"stallTimeout: {value}")
    fleet.write("specs/pipeline.yaml", text)
    err = fleet.error()
    at(err, "specs/pipeline.yaml", line_of(text, "stallTimeout"), 7)
    assert err.message.startswith("stallTimeout must be a string, not ")
    assert f'did you mean "{meant}"?' in err.message


def test_a_config_duration_given_as_a_number_says_it_too(fleet: Fleet) -> None:
    fleet.write("config/orch.yaml", "reconcile:\n  resync: 10\n")
    err = fleet.error()
    at(err, "config/orch.yaml", 2)
    assert 'did you mean "10s"?' in err.message


# ----------------------------------------------------------------------------- agent argv


@pytest.mark.parametrize(
    ("command", "says"),
    [('[""]', "command[0]: the program is empty"),
     ('["  "]', "command[0]: the program is empty"),
     ('["claude -p"]', 'command[0]: program "claude -p" has a space: give each argument'),
     ('[sh, "{{ promt_file }}"]', 'command[1]: unknown variable "promt_file"; did you mean'),
     ('[sh, "{% if %}"]', "command[1]: template syntax error")],
)  # fmt: skip
def test_an_argv_that_cannot_run_is_an_error_at_its_element(
    fleet: Fleet, command: str, says: str
) -> None:
    text = AGENT.replace('[sh, -c, "true"]', command)
    fleet.write("specs/agent.yaml", text)
    err = fleet.error()
    at(err, "specs/agent.yaml", line_of(text, "command:"))
    assert err.obj == "Agent/bot"
    assert err.message.startswith(says), err.message


def test_a_resume_argv_is_checked_too(fleet: Fleet) -> None:
    fleet.write("specs/agent.yaml", AGENT + '  resume: ["", "{{ session_id }}"]\n')
    assert fleet.error().message.startswith("resume[0]: the program is empty")


def test_argv_templates_that_can_run_load(fleet: Fleet) -> None:
    fleet.write("specs/agent.yaml", AGENT.replace(
        '[sh, -c, "true"]', '["{{ root }}/x.sh", "{{ prompt_file }}", "{{ session_id }}"]'))
    assert fleet.load().agents["bot"].command[0] == "{{ root }}/x.sh"


def test_a_program_missing_here_is_a_warning_not_an_error(fleet: Fleet, tmp_path: Path) -> None:
    fleet.write("specs/agent.yaml", AGENT.replace('[sh, -c, "true"]', "[no-such-agent-cli, -p]"))
    desired = fleet.load()  # valid: CI may validate a fleet without the agent's CLI
    (warning,) = missing_programs(desired, {"PATH": str(tmp_path)})
    at(warning, "specs/agent.yaml", line_of(AGENT, "name: bot"))
    assert warning.obj == "Agent/bot"
    assert warning.message == ('program "no-such-agent-cli" is not on PATH; '
                               "its workers would fail to start here")  # fmt: skip
    fake = tmp_path / "no-such-agent-cli"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert missing_programs(desired, {"PATH": str(tmp_path)}) == []


def test_a_program_on_the_agents_own_path_is_no_warning(fleet: Fleet, tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    fake = tools / "agent-cli"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    fleet.write("specs/agent.yaml", AGENT.replace('[sh, -c, "true"]', "[agent-cli]")
                + f'  env: {{PATH: "{tools}:${{PATH}}"}}\n')  # fmt: skip
    desired = fleet.load({"PATH": "/nowhere"})
    assert missing_programs(desired, {"PATH": "/nowhere"}) == []
    fleet.write("specs/agent.yaml", AGENT.replace('[sh, -c, "true"]', "[agent-cli]"))
    assert len(missing_programs(fleet.load(), {"PATH": "/nowhere"})) == 1
