"""A worker's state file read back: the same state, checked field by field, defaults fresh."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.model import WorkerState

FIELDS = {f.name: f for f in dataclasses.fields(WorkerState)}


def value_for(name: str) -> st.SearchStrategy[Any]:
    default = getattr(WorkerState(name=""), name)
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.integers(-5, 10**6)
    if isinstance(default, float):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(default, str):
        return st.text(max_size=12)
    if isinstance(default, dict):
        return st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3)
    return st.one_of(st.none(), st.text(max_size=12), st.floats(allow_nan=False, min_value=0))


states = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=12)},
    optional={name: value_for(name) for name in FIELDS if name != "name"},
)


@settings(max_examples=200)
@given(states)
def test_what_the_slow_constructor_makes_is_what_from_json_makes(data: dict[str, Any]) -> None:
    try:
        slow = WorkerState(**data)
    except TypeError:
        return
    text = json.loads(json.dumps(data))
    assert WorkerState.from_json(text) == slow
    assert WorkerState.from_json(json.loads(json.dumps(slow.to_json()))) == slow


def test_defaults_are_fresh_and_the_object_behaves_as_one_made_by_init() -> None:
    one, two = WorkerState.from_json({"name": "a"}), WorkerState.from_json({"name": "b"})
    assert one == WorkerState(name="a")
    assert one.costs == {} and one.costs is not two.costs
    assert one.run_hashes is not two.run_hashes
    assert dataclasses.replace(one, phase="Running").phase == "Running"
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.phase = "x"  # type: ignore[misc]
    assert repr(one).startswith("WorkerState(name='a'")


def test_bad_files_are_errors() -> None:
    with pytest.raises(TypeError):
        WorkerState.from_json({"phase": "Running"})  # no name
    with pytest.raises(ValueError, match="field restarts: expected int"):
        WorkerState.from_json({"name": "a", "restarts": "2"})
    with pytest.raises(ValueError, match="a JSON object"):
        WorkerState.from_json(["name", "a"])
    assert WorkerState.from_json({"name": "a", "from_a_newer_orch": 1}) == WorkerState(name="a")
