"""The JSON Schemas in reconciler/spec/schema accept the example contract and reject bad input."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

EXAMPLES = Path(__file__).resolve().parents[1] / "data"  # the spec contract, by example
KIND_FILES = {
    "Repo": "repo.json",
    "Agent": "agent.json",
    "Pipeline": "pipeline.json",
    "Worker": "worker.json",
    "WorkerSet": "workerset.json",
}
ALL_FILES = [*KIND_FILES.values(), "config.json"]


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((files("reconciler") / "spec" / "schema" / name).read_text(encoding="utf-8"))


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def fleet_docs() -> list[dict[str, Any]]:
    text = (EXAMPLES / "fleet.yaml").read_text(encoding="utf-8")
    return [d for d in yaml.safe_load_all(text) if d is not None]


def example(kind: str) -> dict[str, Any]:
    for doc in fleet_docs():
        if doc["kind"] == kind:
            return copy.deepcopy(doc)
    raise AssertionError(f"no {kind} in fleet.yaml")


def errors(name: str, doc: Any) -> list[str]:
    return [e.message for e in validator(name).iter_errors(doc)]


# --------------------------------------------------------------------- well-formed schemas


@pytest.mark.parametrize("name", ALL_FILES)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema.get("title")
    assert schema.get("description")


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_property_has_a_description(name: str) -> None:
    missing: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                if not (isinstance(sub, dict) and sub.get("description")):
                    missing.append(f"{path}/{key}")
            for key, sub in node.items():
                walk(sub, f"{path}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{path}/{i}")

    walk(load_schema(name), "")
    assert not missing, missing


# --------------------------------------------------------------------- the examples pass


def test_fleet_example_has_every_kind() -> None:
    assert {d["kind"] for d in fleet_docs()} == set(KIND_FILES)


@pytest.mark.parametrize("doc", fleet_docs(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_fleet_example_validates(doc: dict[str, Any]) -> None:
    assert errors(KIND_FILES[doc["kind"]], doc) == []


def test_orch_config_example_validates() -> None:
    config = yaml.safe_load((EXAMPLES / "orch.yaml").read_text(encoding="utf-8"))
    assert errors("config.json", config) == []


def test_config_defaults_match_the_project_config() -> None:
    # config/orch.yaml of this repository lists every key with its default.
    project = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((project / "config" / "orch.yaml").read_text(encoding="utf-8"))
    schema = load_schema("config.json")
    for section, values in config.items():
        props = schema["properties"][section]["properties"]
        assert set(props) == set(values), section
        for key, value in values.items():
            assert props[key]["default"] == value, f"{section}.{key}"


def test_empty_config_is_valid() -> None:
    assert errors("config.json", {}) == []


# --------------------------------------------------------------------- bad input fails


def test_unknown_spec_field_fails() -> None:
    doc = example("Worker")
    doc["spec"]["retries"] = 3
    assert errors("worker.json", doc)


def test_unknown_top_level_and_nested_fields_fail() -> None:
    doc = example("Worker")
    doc["status"] = {}
    assert errors("worker.json", doc)
    doc = example("Worker")
    doc["spec"]["restartPolicy"]["backoff"]["factor"] = 2
    assert errors("worker.json", doc)
    doc = example("Pipeline")
    doc["spec"]["stages"][0]["retries"] = 1
    assert errors("pipeline.json", doc)
    doc = example("WorkerSet")
    doc["spec"]["template"]["pipelines"] = "proof"
    assert errors("workerset.json", doc)


def test_wrong_kind_or_api_version_fails() -> None:
    doc = example("Worker")
    doc["kind"] = "Repo"
    assert errors("worker.json", doc)
    doc = example("Worker")
    doc["apiVersion"] = "orch/v2"
    assert errors("worker.json", doc)


@pytest.mark.parametrize("kind", list(KIND_FILES))
def test_bad_name_fails(kind: str) -> None:
    doc = example(kind)
    doc["metadata"]["name"] = "Bad_Name"
    assert errors(KIND_FILES[kind], doc)


def test_bad_label_value_fails() -> None:
    doc = example("Worker")
    doc["metadata"]["labels"] = {"issue": 42}
    assert errors("worker.json", doc)


@pytest.mark.parametrize("value", ["10 minutes", "", "10", "m", "1d"])
def test_bad_duration_fails(value: str) -> None:
    doc = example("Pipeline")
    doc["spec"]["stages"][0]["stallTimeout"] = value
    assert errors("pipeline.json", doc)


@pytest.mark.parametrize("value", ["30s", "10m", "2h", "1h30m", "0s", "1.5s", "200ms"])
def test_good_duration_passes(value: str) -> None:
    doc = example("Pipeline")
    doc["spec"]["stages"][0]["timeout"] = value
    assert errors("pipeline.json", doc) == []
    assert errors("config.json", {"reconcile": {"debounce": value}}) == []


def test_bad_done_when_fails() -> None:
    doc = example("Pipeline")
    doc["spec"]["stages"][0]["doneWhen"] = "maybe"
    assert errors("pipeline.json", doc)


def test_stage_names_allow_underscore_but_not_uppercase() -> None:
    doc = example("Pipeline")
    doc["spec"]["stages"][0]["name"] = "write_tests"
    assert errors("pipeline.json", doc) == []
    doc["spec"]["stages"][0]["name"] = "Write"
    assert errors("pipeline.json", doc)


def test_repo_needs_exactly_one_of_path_and_url() -> None:
    doc = example("Repo")
    doc["spec"]["url"] = "git@example.com:org/staking.git"
    assert errors("repo.json", doc)
    del doc["spec"]["path"]
    assert errors("repo.json", doc) == []
    del doc["spec"]["url"]
    assert errors("repo.json", doc)


def test_bad_workflow_name_fails() -> None:
    doc = example("Repo")
    doc["spec"]["workflows"]["Build It"] = "make"
    assert errors("repo.json", doc)


@pytest.mark.parametrize("branch", ["x;rm -rf /", "a b", "a..b", "-x", "$(id)", ""])
def test_bad_branch_fails(branch: str) -> None:
    doc = example("Worker")
    doc["spec"]["branch"] = branch
    assert errors("worker.json", doc)


def test_worker_missing_required_fails() -> None:
    doc = example("Worker")
    del doc["spec"]["agent"]
    assert errors("worker.json", doc)


def test_worker_host_and_depends_on() -> None:
    doc = example("Worker")
    doc["spec"]["host"] = "build-box.local"
    doc["spec"]["dependsOn"] = ["staking-proof-41"]
    assert errors("worker.json", doc) == []
    doc["spec"]["host"] = "bad host"
    assert errors("worker.json", doc)
    doc["spec"]["host"] = None
    doc["spec"]["dependsOn"] = ["a", "a"]
    assert errors("worker.json", doc)


def test_agent_checks() -> None:
    doc = example("Agent")
    doc["spec"]["command"] = []
    assert errors("agent.json", doc)
    doc = example("Agent")
    doc["spec"]["sessionIdFrom"] = r"regex:session=(\w+)"
    assert errors("agent.json", doc) == []
    doc["spec"]["sessionIdFrom"] = "json"
    assert errors("agent.json", doc)
    doc = example("Agent")
    doc["spec"]["env"] = {"1BAD": "x"}
    assert errors("agent.json", doc)


def test_workerset_template_is_loose_but_closed() -> None:
    doc = example("WorkerSet")
    doc["spec"]["items"] = [{"repo": "staking", "issue": 1}, {"repo": "staking", "issue": 2}]
    doc["spec"]["template"]["suspend"] = "{{ item.issue > 1 }}"
    doc["spec"]["template"]["restartPolicy"] = {
        "maxRestarts": "{{ item.n }}",
        "backoff": {"initial": "5s"},
    }
    assert errors("workerset.json", doc) == []
    doc["spec"]["parallelism"] = 0
    assert errors("workerset.json", doc)
    doc = example("WorkerSet")
    doc["spec"]["items"] = {"a": 1}
    assert errors("workerset.json", doc)
    doc = example("WorkerSet")
    del doc["spec"]["nameTemplate"]
    assert errors("workerset.json", doc)


def test_config_rejects_unknown_and_bad_values() -> None:
    assert errors("config.json", {"tmux": {"sockets": "orch"}})
    assert errors("config.json", {"colour": True})
    assert errors("config.json", {"reconcile": {"maxPruneFraction": 1.5}})
    assert errors("config.json", {"reconcile": {"resync": "10 minutes"}})
    assert errors("config.json", {"tmux": {"socket": "a b"}})
    assert errors("config.json", {"git": {"pull": "yes"}})
