"""Editors: one schema for any spec document, written by `orch init` with the modeline and mapping.

The combined schema (``orch schema`` without a kind) is checked with jsonschema
against every document of the scaffold's fleet and of this repository's specs
(all valid) and against broken documents (invalid, with the error at the
broken field of the document's own kind). `orch init` and `orch schema --write`
run as the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from test_cli_spec import no_traceback, orch

from reconciler.cli.init import editor_settings
from reconciler.spec.schemas import combined_schema, load_schema

PROJECT = Path(__file__).resolve().parents[2]
SCAFFOLD_FLEET = PROJECT / "reconciler" / "data" / "scaffold" / "specs" / "fleet.yaml"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """What `orch schema` prints (the real CLI), checked as a draft 2020-12 schema."""
    done = orch("schema")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    Draft202012Validator.check_schema(data)
    return data


def documents(*files: Path) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"{path.name}#{i}", doc) for path in files
             for i, doc in enumerate(yaml.safe_load_all(path.read_text())) if doc]  # fmt: skip
    assert found
    return found


def messages(schema: dict[str, Any], doc: dict[str, Any]) -> list[tuple[list[Any], str]]:
    errors = Draft202012Validator(schema).iter_errors(doc)
    return sorted((list(e.absolute_path), e.message) for e in errors)


def test_the_combined_schema_has_an_id_and_one_branch_a_kind(schema: dict[str, Any]) -> None:
    assert schema["$id"] == "urn:orch:schema:v1"
    kinds = [b["if"]["properties"]["kind"]["const"] for b in schema["allOf"]]
    assert kinds == ["Repo", "Agent", "Pipeline", "Worker", "WorkerSet"]
    assert schema["properties"]["kind"]["enum"] == kinds


def test_every_document_of_the_scaffold_and_of_this_repo_is_valid(schema: dict[str, Any]) -> None:
    docs = documents(SCAFFOLD_FLEET, *sorted((PROJECT / "specs").glob("*.yaml")))
    assert {doc["kind"] for _, doc in docs} >= {"Repo", "Agent", "Pipeline", "WorkerSet"}
    assert {name: messages(schema, doc) for name, doc in docs} == {name: [] for name, _ in docs}


def test_a_worker_document_is_valid_too(schema: dict[str, Any]) -> None:
    spec = {"repo": "app", "pipeline": "p", "agent": "claude", "dependsOn": ["w0"]}
    worker = {"apiVersion": "orch/v1", "kind": "Worker", "metadata": {"name": "w1"}, "spec": spec}
    assert messages(schema, worker) == []


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (("Pipeline", ["spec", "stages", 0, "stallTimeout"], 60),
         ["spec", "stages", 0, "stallTimeout"], "60 is not of type 'string'"),
        (("WorkerSet", ["spec", "template", "repoo"], "x"),
         ["spec", "template"], "Additional properties are not allowed ('repoo'"),
        (("Repo", ["kind"], "Wroker"), ["kind"], "'Wroker' is not one of"),
        (("Agent", ["metadata", "name"], "Bad_Name"), ["metadata", "name"],
         "'Bad_Name' does not match"),
    ],
)  # fmt: skip
def test_a_broken_document_is_invalid_at_its_own_field(
    schema: dict[str, Any], change: tuple[str, list[Any], Any], where: list[Any], says: str
) -> None:
    kind, path, value = change
    doc = next(d for _, d in documents(SCAFFOLD_FLEET) if d["kind"] == kind)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    found = messages(schema, doc)
    assert found, "a broken document passed"
    assert all(p == where for p, _ in found), found  # errors of its own kind only
    assert any(m.startswith(says) for _, m in found), found


def test_init_writes_the_modeline_the_schemas_and_the_editor_mapping(
    tmp_path: Path, schema: dict[str, Any]
) -> None:
    done = orch("init", str(tmp_path / "fleet"))
    assert done.returncode == 0, done.stderr
    root = tmp_path / "fleet"
    modeline = "# yaml-language-server: $schema=../schema/orch.json"
    for spec in sorted((root / "specs").glob("*.yaml")):
        assert spec.read_text().splitlines()[0] == modeline
    assert json.loads((root / "schema" / "orch.json").read_text()) == schema
    assert json.loads((root / "schema" / "config.json").read_text()) == load_schema("config")
    settings = json.loads((root / ".vscode" / "settings.json").read_text())
    assert settings == editor_settings()
    mapping = settings["yaml.schemas"]
    assert mapping["./schema/orch.json"] == ["specs/**/*.yaml", "specs/**/*.yml"]
    assert mapping["./schema/config.json"] == ["config/orch.yaml"]
    # the modeline resolves from the spec file to the written schema
    assert (root / "specs" / "../schema/orch.json").resolve() == root / "schema" / "orch.json"
    assert orch("validate", cwd=root).returncode == 0  # the modeline is a comment to orch


def test_schema_write_refreshes_the_control_repos_schemas(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    assert orch("init", str(root)).returncode == 0
    (root / "schema" / "orch.json").write_text("{}\n")  # stale, from an older orch
    done = orch("schema", "--write", cwd=root / "specs")
    assert done.returncode == 0, done.stderr
    folder = root.resolve() / "schema"
    assert done.stdout.splitlines() == [f"wrote {folder / 'orch.json'}",
                                        f"wrote {folder / 'config.json'}"]  # fmt: skip
    assert json.loads((root / "schema" / "orch.json").read_text()) == combined_schema()


def test_schema_write_needs_a_control_repo(tmp_path: Path) -> None:
    done = orch("schema", "--write", cwd=tmp_path)
    no_traceback(done)
    assert done.returncode == 1 and "no control repo" in done.stderr
    assert list(tmp_path.iterdir()) == []
