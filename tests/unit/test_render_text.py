"""`orch render`'s text form (pure): the header reads back to the argv, the prompt is verbatim."""

from __future__ import annotations

import shlex

from reconciler.cli.inspect_worker import render_text

OUT = {
    "worker": "w1", "stage": "build", "attempt": 3, "restart": True, "agent": "claude",
    "cwd": "/wt/w1", "argv": ["claude", "-p", "it's {x}", "--flag"],
    "command": "exec claude -p 'it'\"'\"'s {x}' --flag < /p", "promptFile": "/p",
    "env": {"A_KEY": "***", "ORCH_STAGE": "build"}, "prompt": "line 1\n# not a header\n",
}  # fmt: skip


def test_header_argv_reads_back_with_shlex() -> None:
    line = next(x for x in render_text(OUT).splitlines() if x.startswith("# argv: "))
    assert shlex.split(line.removeprefix("# argv: ")) == OUT["argv"]


def test_prompt_follows_the_header_verbatim() -> None:
    text = render_text(OUT)
    head, _, prompt = text.partition("# prompt:\n")
    assert prompt == OUT["prompt"]
    assert head.splitlines()[0] == "# w1: stage build, restart, attempt #3, agent claude"
    assert "# env A_KEY=***" in head.splitlines()
