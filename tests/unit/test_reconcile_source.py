"""The reconcile.source switch, as every command reads it from the saved config/orch.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.spec.config import load_config, reconcile_source


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("reconcile:\n  source: committed\n", "committed"),
        ("reconcile: {source: committed, resync: 5s}\n", "committed"),
        ("reconcile:\n  source: worktree\n", "worktree"),
        ("reconcile:\n  resync: 5s\n", "worktree"),  # the default
        ("reconcile: [committed]\n", "worktree"),  # not a mapping: the loader reports it
        ("reconcile: {source: committed\n", "worktree"),  # broken YAML: likewise
        ("# only comments\n", "worktree"),
    ],
)
def test_the_switch(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "orch.yaml").write_text(text)
    assert reconcile_source(tmp_path) == expected


def test_no_config_file_is_worktree(tmp_path: Path) -> None:
    assert reconcile_source(tmp_path) == "worktree"


def test_committed_files_replace_the_saved_config(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "orch.yaml").write_text("reconcile: {resync: 5s}\n")
    committed = {"config/orch.yaml": b"reconcile: {resync: 7s, source: committed}\n"}
    config, errors = load_config(tmp_path, {}, committed)
    assert errors == [] and config.resync == 7.0 and config.source == "committed"
    config, errors = load_config(tmp_path, {}, {})  # nothing committed: the defaults
    assert errors == [] and config.resync == 10.0 and config.source == "worktree"
    config, _ = load_config(tmp_path, {})
    assert config.resync == 5.0
