"""The examples in ../shared/examples (beside the checkout) load and validate.

They are the spec contract as first written down; the suite keeps its own copy
in tests/data/ so that it runs from a bare clone, and these tests check the
original when it is there (skipped, with the reason, when it is not).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.spec.schemas import schema_errors
from reconciler.spec.yamlsource import parse_documents

SHARED = Path(__file__).resolve().parents[3] / "shared" / "examples"
COPY = Path(__file__).resolve().parents[1] / "data"

pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"{SHARED} is not beside the checkout (bare clone)"
)


def test_the_shared_fleet_passes_the_schema() -> None:
    docs, errs = parse_documents("fleet.yaml", (SHARED / "fleet.yaml").read_bytes())
    assert not errs
    kinds = [doc.data["kind"] for doc in docs]
    for doc in docs:
        found = schema_errors(doc, doc.data["kind"].lower(), doc.data["kind"])
        assert not found, "\n".join(map(str, found))
    assert kinds == ["Repo", "Agent", "Pipeline", "Worker", "WorkerSet"]


def test_the_shared_config_passes_the_schema() -> None:
    docs, errs = parse_documents("orch.yaml", (SHARED / "orch.yaml").read_bytes())
    assert not errs
    found = schema_errors(docs[0], "config", None)
    assert not found, "\n".join(map(str, found))


def test_the_copy_in_tests_data_says_the_same() -> None:
    for name in ("fleet.yaml", "orch.yaml"):
        shared = list(yaml.safe_load_all((SHARED / name).read_text()))
        copy = list(yaml.safe_load_all((COPY / name).read_text()))
        assert copy == shared, name
