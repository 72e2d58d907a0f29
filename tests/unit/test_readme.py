"""The README's "Your first fleet" stays true: its spec validates in a fresh `orch init` repo."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from reconciler.cli.init import scaffold
from reconciler.spec.validate import load_desired

README = Path(__file__).resolve().parents[2] / "README.md"


def first_fleet_spec() -> str:
    text = README.read_text()
    section = text.split("## Your first fleet", 1)[1].split("\n## ", 1)[0]
    [spec] = re.findall(r"```yaml\n(# specs/fleet\.yaml\n.*?)```", section, re.DOTALL)
    return spec


def test_the_first_fleet_of_the_readme_validates_after_orch_init(tmp_path: Path) -> None:
    repo = Path.home() / "src" / "myapp"  # the spec's ~/src/myapp (HOME is a temp folder)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    root = scaffold(tmp_path / "fleet")
    for old in (root / "specs").glob("*.yaml"):
        old.unlink()
    (root / "specs" / "fleet.yaml").write_text(first_fleet_spec())

    desired = load_desired(root, {"ANTHROPIC_API_KEY": "sk-ant-test"})

    assert sorted(desired.workers) == ["improve-docs", "improve-tests"]
    agent = desired.agents["claude"]
    assert agent.command[:2] == ("claude", "-p") and not agent.builtin
    assert desired.repos["myapp"].local_path == repo
    assert desired.workers["improve-docs"].vars["topic"] == "tidy the README"


def test_the_workflows_example_of_the_readme_validates_and_renders(tmp_path: Path) -> None:
    from reconciler.core.agent_command import render
    from reconciler.core.workflows import workflow_context, workflow_template

    section = README.read_text().split("## Repositories and workflows", 1)[1].split("\n## ", 1)[0]
    [spec] = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "repos.yaml").write_text(spec)

    desired = load_desired(tmp_path, {}, require_env=False, require_repos=False)

    repo = desired.repos["staking"]
    assert sorted(repo.workflows) == ["build", "lint", "test"]
    ctx = workflow_context(repo, "lint", str(repo.local_path), "feature", None, {})
    assert render(workflow_template(repo, "lint"), ctx) == "golangci-lint run --new-from-rev=main"
