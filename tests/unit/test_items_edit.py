"""spec.items_edit: one item appended to a WorkerSet's items; the rest of the text untouched."""

from __future__ import annotations

import pytest

from reconciler.spec.edit import EditRefused
from reconciler.spec.items_edit import append_to_inline_items, append_to_items_file

ITEM = {"id": "t-3", "task": "T-3", "title": "Fix: it"}
Y = "{id: t-3, task: T-3, title: 'Fix: it'}"  # the item as a YAML line writes it
J = '{"id": "t-3", "task": "T-3", "title": "Fix: it"}'  # and as JSON


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("i.yaml", "# issues\n- {id: a}\n- id: b\n  x: 1\n",
         "# issues\n- {id: a}\n- id: b\n  x: 1\n- {id: t-3, task: T-3, title: 'Fix: it'}\n"),
        ("i.yaml", "  - a\r\n  - b  # last\r\n", f"  - a\r\n  - b  # last\r\n  - {Y}\r\n"),
        ("i.yaml", "- a", "- a\n- {id: t-3, task: T-3, title: 'Fix: it'}\n"),
        ("i.json", "[]\n", '[{"id": "t-3", "task": "T-3", "title": "Fix: it"}]\n'),
        ("i.json", '[{"id": "a"}]', f'[{{"id": "a"}}, {J}]'),
        ("i.json", '[\n  {"id": "a"}\n]\n',
         '[\n  {"id": "a"},\n  {"id": "t-3", "task": "T-3", "title": "Fix: it"}\n]\n'),
    ],
)  # fmt: skip
def test_an_item_is_appended_in_the_files_own_style(path: str, text: str, expected: str) -> None:
    assert append_to_items_file(text, ITEM, path) == expected


def test_what_is_not_one_list_is_refused() -> None:
    with pytest.raises(EditRefused, match="must hold one YAML/JSON list"):
        append_to_items_file("a: 1\n", ITEM, "i.yaml")
    with pytest.raises(EditRefused, match="cannot read the file as YAML"):
        append_to_items_file("- [\n", ITEM, "i.yaml")


def test_inline_items_of_the_named_set_only() -> None:
    text = (
        "kind: WorkerSet\nmetadata: {name: one}\nspec:\n  items:\n    - {id: a}\n"
        "  nameTemplate: x\n"
        "---\nkind: WorkerSet\nmetadata: {name: two}\nspec:\n  items: [b]\n"
    )
    new = append_to_inline_items(text, "one", ITEM, "s.yaml")
    assert new == text.replace(
        "    - {id: a}\n", "    - {id: a}\n    - {id: t-3, task: T-3, title: 'Fix: it'}\n"
    )
    assert append_to_inline_items(text, "two", {"id": "c"}, "s.yaml").endswith(
        "items: [b, {id: c}]\n"
    )
    with pytest.raises(EditRefused, match='no WorkerSet "three"'):
        append_to_inline_items(text, "three", ITEM, "s.yaml")
