"""The playbooks and stage prompts the example control repo ships, and `orch playbook`.

Every `orch ...` a guide names is a command of the app (`repos`, `run` and
`test` excepted: their group is separate work); the stage prompts render with
the renderer and context the loop uses; the fleet of parallel-proof-work.md
validates as written.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from reconciler import data
from reconciler.cli.app import app
from reconciler.cli.init import copy_tree
from reconciler.core.agent_command import prompt_context, render
from reconciler.drivers.git import init_repo
from reconciler.spec.validate import load_desired

PROJECT = Path(__file__).resolve().parents[2]
SCAFFOLD = PROJECT / "reconciler" / "data" / "scaffold"
GUIDES = ("parallel-proof-work", "new-feature", "bug-fix", "release", "code-review",
          "test-suite", "status-report")  # fmt: skip
STAGES = ("optimize", "write_tests", "run_tests_fix", "document")
NOT_YET = {"repos", "run", "test"}  # commands of the repos/workflows group
_SCRIPT = Path(sys.executable).parent / "orch"
ORCH = [str(_SCRIPT)] if _SCRIPT.is_file() else [
    sys.executable, "-c", "from reconciler.cli.app import main; main()"]  # fmt: skip


def _code(text: str) -> list[str]:
    """The code of a markdown text: fenced blocks and `inline` spans."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    rest = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return fenced + re.findall(r"`([^`\n]+)`", rest)


def named_commands(text: str) -> list[tuple[str, str | None]]:
    """Each ``orch CMD [SUB]`` in the code of ``text``."""
    pattern = r"(?:^|[\s;&|(])orch\s+([a-z][\w-]*)(?:\s+([a-z][\w-]*))?"
    return [(m[1], m[2]) for code in _code(text) for m in re.finditer(pattern, code)]


def test_the_seven_guides_ship_and_the_example_repo_links_them() -> None:
    shipped = sorted(p.stem for p in (SCAFFOLD / "playbooks").glob("*.md"))
    assert shipped == sorted(GUIDES)
    for name in GUIDES:
        mine = PROJECT / "playbooks" / f"{name}.md"
        assert mine.read_text() == (SCAFFOLD / "playbooks" / f"{name}.md").read_text()


@pytest.mark.parametrize("name", GUIDES)
def test_every_command_a_guide_names_exists(name: str) -> None:
    group: Any = typer.main.get_command(app)  # typer's own click: a group has .commands
    text = (SCAFFOLD / "playbooks" / f"{name}.md").read_text()
    named = named_commands(text)
    assert len({cmd for cmd, _ in named}) >= 3, named  # a guide names what it uses
    assert re.search(r"\b(Repo|Pipeline|Worker|WorkerSet|config/orch\.yaml|reports/)", text)
    for cmd, sub in named:
        if cmd in NOT_YET:
            continue
        assert cmd in group.commands, f"{name}.md: orch {cmd}"
        found = group.commands[cmd]
        if hasattr(found, "commands") and sub is not None:
            assert sub in found.commands, f"{name}.md: orch {cmd} {sub}"


def test_the_command_finder_finds_what_it_should() -> None:
    text = (
        "Run `orch task add x`; orch prose is not code.\n```sh\norch nope && orch validate\n```\n"
    )
    assert named_commands(text) == [("nope", None), ("validate", None), ("task", "add")]


@pytest.fixture
def control(tmp_path: Path) -> Path:
    """The example control repo (as `orch init` copies it) plus a Repo `staking`."""
    root = tmp_path / "ctl"
    init_repo(root)  # the example Repo `self` is the control repo itself
    copy_tree(data.scaffold(), root)
    init_repo(tmp_path / "staking")
    return root


def _fleet_of_the_proof_guide(root: Path) -> None:
    text = (SCAFFOLD / "playbooks" / "parallel-proof-work.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    items, specs = blocks
    (root / "config" / "proof-issues.yaml").write_text(items)
    (root / "specs" / "proof.yaml").write_text(specs)
    (root / "specs" / "staking.yaml").write_text(
        "apiVersion: orch/v1\nkind: Repo\nmetadata: {name: staking}\nspec: {path: ../staking}\n"
    )


def test_the_proof_guides_fleet_validates_as_written(control: Path) -> None:
    _fleet_of_the_proof_guide(control)
    desired = load_desired(control, {}, require_env=True)
    proof = {n: w for n, w in desired.workers.items() if w.pipeline == "proof"}
    assert sorted(proof) == ["proof-12", "proof-14", "proof-15"]
    assert proof["proof-15"].depends_on == ("proof-12",)
    assert proof["proof-12"].branch == "proof/issue-12"
    assert desired.worker_sets["proof"].parallelism == 2
    assert [s.name for s in desired.pipelines["proof"].stages] == list(STAGES)


@pytest.mark.parametrize("with_issue", [True, False])
def test_each_stage_prompt_renders_with_the_real_context(control: Path, with_issue: bool) -> None:
    _fleet_of_the_proof_guide(control)
    desired = load_desired(control, {}, require_env=True)
    worker = desired.workers["proof-12" if with_issue else "demo-a"]
    pipeline = desired.pipelines["proof"]
    for stage in pipeline.stages:
        worktree = control / "worktrees" / worker.name
        ctx = prompt_context(desired, worker, stage, 2, worktree)
        text = render((control / stage.prompt).read_text(), ctx)
        for part in (str(worktree), ctx["signal_file"], ctx["failed_file"], ctx["progress_file"]):
            assert part in text, (stage.name, part)
        assert "{{" not in text and "{%" not in text
        title = worker.vars.get("title") or worker.vars["topic"]
        assert f"Task: {title}" in text
        assert ("(issue #12)" in text) is with_issue
        restart = render(
            (control / "playbooks" / "prompts" / "restart.md.j2").read_text(),
            {**ctx, "summary": "3 commits", "stage_prompt": text, "reason": "stalled"},
        )
        assert str(worktree) in restart and ctx["signal_file"] in restart and text in restart


def test_playbook_list_and_show_through_the_cli(control: Path) -> None:
    def orch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ORCH, "--root", str(control), *args], capture_output=True,
                              text=True, check=False, timeout=60)  # fmt: skip

    listed = orch("playbook", "list")
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == sorted(GUIDES)
    (control / "playbooks" / "bug-fix.md").write_text("# Our own bug fixes\n\nWe do it so.\n")
    (control / "playbooks" / "parallel-proof-work.md").unlink()
    books = {b["name"]: b for b in json.loads(orch("playbook", "list", "--json").stdout)}
    assert books["bug-fix"] == {
        "name": "bug-fix", "title": "Our own bug fixes", "summary": "We do it so.",
        "source": "playbooks/bug-fix.md",
    }  # fmt: skip
    assert books["parallel-proof-work"]["source"] == "built-in"
    shown = orch("playbook", "show", "bug-fix.md")
    assert shown.returncode == 0 and shown.stdout == "# Our own bug fixes\n\nWe do it so.\n"
    unknown = orch("playbook", "show", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        'error: no playbook "nope"; there are: ' + ", ".join(sorted(GUIDES))
    )
