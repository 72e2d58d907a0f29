"""`orch import` through the real CLI: files written, specs that validate, nothing lost silently.

The sample of tests/data/original is copied beside a real git clone (its
``../code/app``); the fuller sample in ../shared/examples/original is imported
too when it is beside the checkout (skipped, with the reason, when it is not).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.drivers.git import init_repo

_SCRIPT = Path(sys.executable).parent / "orch"
ORCH = [str(_SCRIPT)] if _SCRIPT.is_file() else [
    sys.executable, "-c", "from reconciler.cli.app import main; main()"]  # fmt: skip
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "original"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "examples" / "original"


def orch(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*ORCH, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=dict(os.environ),
    )
    assert "Traceback" not in done.stdout + done.stderr, done
    return done


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """The sample at tmp/config, with tmp/code/app a git clone."""
    src = tmp_path / "config"
    shutil.copytree(SAMPLE, src)
    init_repo(tmp_path / "code" / "app")
    return src


def test_the_sample_imports_into_a_control_repo_that_validates(
    sample: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ctl"
    out.mkdir()
    done = orch("--root", str(out), "import", str(sample))
    assert done.returncode == 0, done.stderr
    assert "ok: 4 workers, 2 repos, 2 pipelines validate in" in done.stdout
    assert (
        "ignored runtime fields: assigned_worker (1), pipeline_stage (1), status (3)" in done.stdout
    )
    assert "not mapped (10):" in done.stdout
    assert "  app-issues.json: stagger_delay: agent starts are spaced by" in done.stdout
    assert "  repos.json: repositories[0].has_claude_md: no Repo field for it" in done.stdout
    assert "path: ../code/app\n" in (out / "specs" / "imported-repos.yaml").read_text()

    valid = orch("--root", str(out), "validate")
    assert valid.returncode == 0 and valid.stdout.strip() == (
        "ok: 4 workers, 2 repos, 2 pipelines, 0 agents"
    )
    workers = json.loads(orch("--root", str(out), "get", "workers", "--json").stdout)["workers"]
    assert [(w["name"], w["branch"]) for w in workers] == [
        ("app-hardening-5", "harden/5"), ("app-hardening-6", "harden/6"),
        ("app-hardening-7", "harden/7"), ("lib-docs-1", "docs/lib-1"),
    ]  # fmt: skip


def test_an_import_that_would_not_validate_puts_everything_back(
    sample: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ctl"
    (out / "specs").mkdir(parents=True)
    init_repo(out)
    mine = "apiVersion: orch/v1\nkind: Repo\nmetadata: {name: app}\nspec: {path: .}\n"
    (out / "specs" / "mine.yaml").write_text(mine)
    done = orch("--root", str(out), "import", str(sample))
    assert done.returncode == 1
    assert 'duplicate Repo "app"' in done.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if ".git" not in p.parts) == [
        "specs", "specs/mine.yaml",
    ]  # fmt: skip
    assert (out / "specs" / "mine.yaml").read_text() == mine


def test_no_overwrite_without_force_and_broken_json_names_its_line(
    sample: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ctl"
    out.mkdir()
    assert orch("--root", str(out), "import", str(sample)).returncode == 0
    again = orch("--root", str(out), "import", str(sample))
    assert (
        again.returncode == 1 and "would overwrite config/app-hardening-issues.yaml" in again.stderr
    )
    assert orch("--root", str(out), "import", str(sample), "--force").returncode == 0
    (sample / "repos.json").write_text('{"repositories": [\n  {"name": "x",}\n]}\n')
    broken = orch("--root", str(out), "import", str(sample), "--json")
    assert broken.returncode == 1
    error = json.loads(broken.stdout)["error"]
    assert error.endswith("repos.json:2:16: not valid JSON: Expecting property name enclosed in "
                          "double quotes")  # fmt: skip


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not beside the checkout (bare clone)")
def test_the_shared_sample_imports_and_validates(tmp_path: Path) -> None:
    out = tmp_path / "ctl"
    done = orch("import", str(SHARED), "--out", str(out), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert (report["workers"], report["repos"], report["pipelines"]) == (5, 3, 2)
    assert report["ignored"] == {
        "status": 4, "assigned_worker": 2, "pipeline_stage": 2, "initial_assignments": 1,
    }  # fmt: skip
    fields = {(u["source"], u["field"]) for u in report["unmapped"]}
    assert {("proof-issues.json", "tmux_session"), ("workflows.json", "build.log_file")} <= fields
    assert orch("--root", str(out), "validate").returncode == 0
    items = (out / "config" / "staking-automation-issues.yaml").read_text()
    assert items.index("issue: 12") < items.index("issue: 14") < items.index("issue: 15")


def test_a_missing_clone_without_remote_is_named_where_it_was_looked_for(
    sample: Path, tmp_path: Path
) -> None:
    repos = json.loads((sample / "repos.json").read_text())
    del repos["repositories"][1]["remote"]
    (sample / "repos.json").write_text(json.dumps(repos))
    out = tmp_path / "ctl"
    out.mkdir()
    done = orch("--root", str(out), "import", str(sample))
    assert done.returncode == 1
    lib = tmp_path / "code" / "lib"
    assert f'Repo/lib-go: path "../code/lib" does not exist (resolved to {lib})' in done.stderr
    assert list(out.iterdir()) == []  # everything put back
