"""profiles: the argv each built-in profile gives, with its options; bad options in an Agent."""

from __future__ import annotations

import re

import pytest

from reconciler.core.agent_command import uses_prompt
from reconciler.core.model import Source
from reconciler.core.profiles import (
    BUILTIN_SOURCE,
    CLAUDE_QUIET,
    PERMISSION_MODES,
    PROFILES,
    builtin_agents,
    profile_agent,
)
from reconciler.spec.build import build_agent
from reconciler.spec.schemas import schema_errors
from reconciler.spec.yamlsource import Document, parse_documents

CLAUDE = (
    "claude", "-p", "--output-format", "stream-json", "--verbose",
    "--settings", "{{ settings_file }}",
)  # fmt: skip


# -- claude -------------------------------------------------------------------------------


def test_claude_runs_headless_with_stream_json_and_orch_hooks() -> None:
    a = profile_agent("claude", "claude")
    assert a.command == (*CLAUDE, "--dangerously-skip-permissions")
    assert a.resume == (
        "claude", "-p", "--resume", "{{ session_id }}", *CLAUDE[2:],
        "--dangerously-skip-permissions",
    )  # fmt: skip
    assert a.session_id_from == "claude-stream-json"
    assert a.quiet_patterns == CLAUDE_QUIET
    assert (a.profile, a.builtin, a.staggered, a.stop_nudges, a.env) == (
        "claude", True, True, 2, {},
    )  # fmt: skip


def test_claude_gets_the_prompt_on_stdin() -> None:
    """No prompt in argv: a variadic option (--allowedTools) cannot swallow it."""
    a = profile_agent("c", "claude", {"allowedTools": ["Bash"], "args": ["--add-dir", "/x"]})
    assert not uses_prompt(a.command)
    assert a.resume is not None and not uses_prompt(a.resume)


@pytest.mark.parametrize("mode", [m for m in PERMISSION_MODES if m != "bypassPermissions"])
def test_claude_other_permission_modes(mode: str) -> None:
    a = profile_agent("c", "claude", {"permissionMode": mode})
    assert a.command == (*CLAUDE, "--permission-mode", mode)
    assert "--dangerously-skip-permissions" not in a.command


def test_claude_bypass_permissions_said_outright_is_the_default() -> None:
    said = profile_agent("c", "claude", {"permissionMode": "bypassPermissions"})
    assert said.command == profile_agent("c", "claude").command
    assert "--permission-mode" not in said.command


def test_claude_allowed_tools_are_one_argument() -> None:
    a = profile_agent("c", "claude", {"permissionMode": "acceptEdits",
                                      "allowedTools": ["Bash", "Edit", "Write"]})  # fmt: skip
    assert a.command[-1] == "--allowedTools=Bash,Edit,Write"
    assert "--allowedTools" not in a.command
    assert (
        profile_agent("c", "claude", {"allowedTools": []}).command
        == profile_agent("c", "claude").command
    )


def test_claude_model_args_and_tools_in_order_in_command_and_resume() -> None:
    a = profile_agent(
        "c", "claude",
        {"model": "claude-sonnet-5", "args": ["--max-budget-usd", 2], "allowedTools": ["Read"]},
    )  # fmt: skip
    tail = ("--dangerously-skip-permissions", "--model", "claude-sonnet-5",
            "--max-budget-usd", "2", "--allowedTools=Read")  # fmt: skip
    assert a.command == (*CLAUDE, *tail)
    assert a.resume == (*CLAUDE[:2], "--resume", "{{ session_id }}", *CLAUDE[2:], *tail)


def test_claude_resume_is_the_command_with_the_session() -> None:
    for options in ({}, {"permissionMode": "plan", "model": "m", "args": ["-x"]}):
        a = profile_agent("c", "claude", options)
        assert a.resume == (*a.command[:2], "--resume", "{{ session_id }}", *a.command[2:])


def test_claude_stop_nudges_and_extra_quiet_patterns() -> None:
    a = profile_agent("c", "claude", {"stopNudges": 0}, quiet=("^spinner",))
    assert a.stop_nudges == 0
    assert a.quiet_patterns == (*CLAUDE_QUIET, "^spinner")


def test_the_quiet_patterns_are_regular_expressions_of_compact_json() -> None:
    """The CLI prints JSON without spaces; loop/activity.py searches lines with them."""
    assert re.search(CLAUDE_QUIET[0], '{"type":"system","subtype":"api_retry","attempt":1}')
    assert not any(re.search(p, '{"type":"system","subtype":"init"}') for p in CLAUDE_QUIET)
    assert not any(re.search(p, '{"type":"assistant","message":{}}') for p in CLAUDE_QUIET)


# -- codex, aider, shell ------------------------------------------------------------------


def test_codex_runs_exec_and_resumes_by_its_session_id() -> None:
    a = profile_agent("cx", "codex", {"args": ["--model", "o4"]})
    assert a.command == ("codex", "exec", "--full-auto", "--skip-git-repo-check",
                         "--model", "o4", "-")  # fmt: skip
    assert a.resume == ("codex", "exec", "resume", "{{ session_id }}", "--full-auto",
                        "--skip-git-repo-check", "--model", "o4", "-")  # fmt: skip
    assert (a.profile, a.staggered, a.quiet_patterns) == ("codex", True, ())
    assert not uses_prompt(a.command)  # the prompt on stdin: `-`


def test_codex_session_id_pattern_reads_its_banner() -> None:
    a = profile_agent("cx", "codex")
    assert a.session_id_from is not None and a.session_id_from.startswith("regex:")
    pattern = re.compile(a.session_id_from.removeprefix("regex:"))
    found = pattern.search("session id: 0199c8a3-5f2e-7c31-a0b4-1d2e3f4a5b6c\n")
    assert found is not None and found.group(1) == "0199c8a3-5f2e-7c31-a0b4-1d2e3f4a5b6c"
    assert pattern.search("session id: none") is None


def test_claude_options_do_not_reach_other_profiles() -> None:
    options = {"permissionMode": "plan", "model": "m", "allowedTools": ["Bash"]}
    for profile in ("codex", "aider", "shell"):
        a = profile_agent(profile, profile, options)
        assert not {"plan", "m", "--model", "--permission-mode"} & set(a.command), profile
        assert not any("allowedTools" in x for x in a.command), profile


def test_aider_gets_the_prompt_file_and_yes() -> None:
    a = profile_agent("ai", "aider", {"args": ["--model", "sonnet"]})
    assert a.command == ("aider", "--yes", "--no-pretty", "--model", "sonnet",
                         "--message-file", "{{ prompt_file }}")  # fmt: skip
    assert (a.resume, a.session_id_from, a.staggered) == (None, None, True)
    assert uses_prompt(a.command)


def test_shell_runs_the_prompt_file_with_bash() -> None:
    a = profile_agent("sh", "shell", {"args": ["-x"]})
    assert a.command == ("bash", "{{ prompt_file }}", "-x")
    assert (a.resume, a.session_id_from, a.staggered, a.quiet_patterns) == (None, None, False, ())


def test_builtin_agents_are_every_profile_under_its_own_name() -> None:
    agents = builtin_agents()
    assert list(agents) == list(PROFILES) == ["claude", "codex", "aider", "shell"]
    for name, a in agents.items():
        assert (a.name, a.profile, a.builtin, a.source) == (name, name, True, BUILTIN_SOURCE)
        assert a == profile_agent(name, name)


def test_a_profile_from_a_document_is_not_builtin_and_keeps_its_env() -> None:
    env = {"ANTHROPIC_API_KEY": "${KEY}"}
    a = profile_agent("mine", "claude", {}, env, Source("specs/a.yaml", 3, 1))
    env["LATER"] = "x"
    assert (a.name, a.builtin, a.env) == ("mine", False, {"ANTHROPIC_API_KEY": "${KEY}"})


# -- an Agent document with profile and options -------------------------------------------


def agent_doc(spec: str) -> Document:
    text = f"apiVersion: orch/v1\nkind: Agent\nmetadata: {{name: strict}}\nspec:\n{spec}"
    docs, errors = parse_documents("specs/agents.yaml", text.encode())
    assert errors == []
    (doc,) = docs
    return doc


def test_a_document_with_options_makes_a_variant() -> None:
    doc = agent_doc(
        "  profile: claude\n  permissionMode: acceptEdits\n"
        "  allowedTools: [Bash, Edit]\n  model: claude-sonnet-5\n  stopNudges: 4\n"
    )
    assert schema_errors(doc, "agent", "strict") == []
    a = build_agent(doc)
    assert a.command == (*CLAUDE, "--permission-mode", "acceptEdits", "--model",
                         "claude-sonnet-5", "--allowedTools=Bash,Edit")  # fmt: skip
    assert (a.name, a.stop_nudges, a.builtin, a.source.path) == (
        "strict", 4, False, "specs/agents.yaml",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("option", "message", "lineno"),
    [
        ("permissionMode: yolo", 'permissionMode "yolo" is not one of: bypassPermissions', 6),
        ("allowedTools: Bash", "allowedTools must be a list, not a string", 6),
        ('allowedTools: [""]', "should be non-empty", 6),
        ("args: --verbose", "args must be a list", 6),
        ("model: ''", "model: '' should be non-empty", 6),
        ("stopNudges: 11", "stopNudges: 11 is greater than the maximum of 10", 6),
        ("stopNudges: -1", "stopNudges: -1 is less than the minimum of 0", 6),
        (
            "allowedTool: [Bash]",
            'unknown field "allowedTool" in spec; did you mean "allowedTools"?',
            6,
        ),
    ],
)
def test_bad_options_are_spec_errors_at_their_line(option: str, message: str, lineno: int) -> None:
    doc = agent_doc(f"  profile: claude\n  {option}\n")
    errors = [str(e) for e in schema_errors(doc, "agent", "strict")]
    assert any(e.startswith(f"specs/agents.yaml:{lineno}:") and message in e for e in errors), (
        errors
    )


def test_an_unknown_profile_is_a_spec_error() -> None:
    errors = [str(e) for e in schema_errors(agent_doc("  profile: gpt\n"), "agent", "strict")]
    assert errors == [
        'specs/agents.yaml:5:3: strict: profile "gpt" is not one of: claude, codex, aider, shell'
    ]
