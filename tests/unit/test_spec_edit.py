"""spec.edit.set_worker_suspend: a one-value text edit that keeps everything else.

Each test states the whole expected text, so any other change (a comment lost,
a line ending changed, a key moved, a document reflowed) fails it.
"""

from __future__ import annotations

import pytest

from reconciler.spec.edit import EditRefused, set_worker_suspend
from reconciler.spec.yamlsource import parse_documents

W1 = """\
# workers of the demo fleet
apiVersion: orch/v1
kind: Worker
metadata:
  name: w1   # the first one
spec:  # what w1 does
  # where it works
  repo: app
  pipeline: p   # two stages
  agent: fake
"""


def data(text: str) -> list[object]:
    docs, errors = parse_documents("t.yaml", text.encode())
    assert errors == []
    return [d.data for d in docs]


def test_inserts_suspend_under_spec_at_the_indentation_of_its_keys() -> None:
    new = set_worker_suspend(W1, "w1", True)
    assert new == W1.replace("spec:  # what w1 does\n", "spec:  # what w1 does\n  suspend: true\n")
    assert data(new)[0]["spec"]["suspend"] is True  # type: ignore[index]


def test_four_space_indentation_is_followed() -> None:
    text = "kind: Worker\nmetadata:\n    name: w1\nspec:\n    repo: app\n    agent: fake\n"
    assert set_worker_suspend(text, "w1", True) == (
        "kind: Worker\nmetadata:\n    name: w1\nspec:\n    suspend: true\n    repo: app\n"
        "    agent: fake\n"
    )


def test_replaces_an_existing_value_and_keeps_its_comment() -> None:
    held = "  suspend: false  # until the API is back\n"
    text = W1.replace("  agent: fake\n", held + "  agent: fake\n")
    new = set_worker_suspend(text, "w1", True)
    assert new == text.replace("suspend: false  #", "suspend: true  #")
    assert set_worker_suspend(new, "w1", False) == text


def test_yaml_11_spellings_of_a_boolean_are_replaced_too() -> None:
    text = W1.replace("  agent: fake\n", "  suspend: yes\n  agent: fake\n")
    assert set_worker_suspend(text, "w1", False) == text.replace("suspend: yes", "suspend: false")


def test_nothing_to_do_returns_the_text_itself() -> None:
    assert set_worker_suspend(W1, "w1", False) is W1  # absent means false
    suspended = set_worker_suspend(W1, "w1", True)
    assert set_worker_suspend(suspended, "w1", True) == suspended


def test_crlf_line_endings_are_kept() -> None:
    text = W1.replace("\n", "\r\n")
    new = set_worker_suspend(text, "w1", True)
    assert new == text.replace("does\r\n", "does\r\n  suspend: true\r\n")
    assert "\n" not in new.replace("\r\n", "")
    existing = text.replace("  agent: fake\r\n", "  suspend: true # x\r\n  agent: fake\r\n")
    assert set_worker_suspend(existing, "w1", False) == existing.replace(
        "suspend: true #", "suspend: false #"
    )


def worker(name: str, extra: str = "") -> str:
    return (
        f"apiVersion: orch/v1\nkind: Worker\nmetadata: {{name: {name}}}\n"
        f"spec:\n  repo: app\n{extra}  pipeline: p\n  agent: fake\n"
    )


def test_only_the_named_worker_of_a_multi_document_file_changes() -> None:
    middle = worker("w2", "  vars: {topic: x}   # keep me\n")
    text = (
        "---\n" + worker("w1") + "---\n# the one in the middle\n" + middle + "...\n---\n"
        + worker("w3", "  suspend: false\n")
    )  # fmt: skip
    new = set_worker_suspend(text, "w2", True)
    assert new == text.replace(middle, middle.replace("spec:\n", "spec:\n  suspend: true\n"))
    before, after = data(text), data(new)
    assert [d["spec"].get("suspend") for d in after] == [None, True, False]  # type: ignore[index]
    assert after[0] == before[0] and after[2] == before[2]
    # the last document's existing key is the one replaced, not the first document's
    assert set_worker_suspend(text, "w3", True) == text.replace(
        "  suspend: false\n", "  suspend: true\n"
    )


def test_other_kinds_with_the_same_name_are_not_touched() -> None:
    pipeline = "kind: Pipeline\nmetadata: {name: w1}\nspec:\n  stages: []\n---\n"
    text = pipeline + worker("w1")
    assert set_worker_suspend(text, "w1", True).startswith(pipeline)


def test_unicode_before_the_edit_does_not_shift_it() -> None:
    text = "# über ✓ — résumé\n" + worker("w1", "  suspend: false # ✓\n")
    assert set_worker_suspend(text, "w1", True) == text.replace("suspend: false", "suspend: true")


def test_flow_style_spec_is_refused_not_reformatted() -> None:
    text = "kind: Worker\nmetadata: {name: w1}\nspec: {repo: app, pipeline: p, agent: fake}\n"
    with pytest.raises(EditRefused, match=r"^t.yaml:3:7: Worker/w1: spec is written in flow"):
        set_worker_suspend(text, "w1", True, path="t.yaml")


def test_unknown_worker_is_refused() -> None:
    with pytest.raises(EditRefused, match=r'^t.yaml: no Worker "nope" in this file$'):
        set_worker_suspend(W1, "nope", True, path="t.yaml")


def test_an_alias_is_refused_rather_than_editing_its_anchor() -> None:
    text = (
        "kind: Worker\nmetadata: {name: w1, labels: {x: &off false}}\n"
        "spec:\n  repo: app\n  suspend: *off\n"
    )
    with pytest.raises(EditRefused, match=r"spec\.suspend is an alias"):
        set_worker_suspend(text, "w1", True, path="t.yaml")


def test_an_anchored_spec_shared_elsewhere_is_refused() -> None:
    text = "kind: Worker\nmetadata: {name: w1}\nspec: &s\n  repo: app\nextra: *s\n"
    with pytest.raises(EditRefused, match="would change more than that value"):
        set_worker_suspend(text, "w1", True, path="t.yaml")
