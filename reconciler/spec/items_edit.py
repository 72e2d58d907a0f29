"""Append one item to a WorkerSet's items, in the text, keeping the rest byte for byte.

The items are either a list file (YAML block list, or a flow/JSON ``[...]``) or
an inline ``items:`` block list in a spec file. The new item is written on a
line of its own after the last one, indented like it, in flow style (JSON in
a ``.json`` file); a flow list gets it before its ``]``. The edit is checked
as :mod:`reconciler.spec.edit` checks its own: the new text must parse to the
old data with exactly that item added, or it is refused.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from reconciler.spec.edit import EditRefused, documents_data, scalar, value_of


def _compose(text: str, path: str) -> list[yaml.Node]:
    try:
        return list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        msg = f"{path}: cannot read the file as YAML: {err}"
        raise EditRefused(msg) from None


def _flow(item: Any, path: str) -> str:
    if path.endswith(".json"):
        return json.dumps(item, ensure_ascii=False)
    return str(yaml.safe_dump(item, default_flow_style=True, width=10**6, sort_keys=False)).strip()


def _eol(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _insert(text: str, seq: yaml.SequenceNode, item: Any, path: str) -> str:
    """``text`` with ``item`` after the last element of the sequence ``seq``."""
    flat = _flow(item, path)
    if seq.flow_style:
        close = seq.end_mark.index - 1  # the "]"
        if not seq.value:
            return text[:close] + flat + text[close:]
        last = seq.value[-1]
        if last.start_mark.line != seq.start_mark.line:  # one element a line: keep it so
            line_start = text.rfind("\n", 0, last.start_mark.index) + 1
            indent = text[line_start : last.start_mark.index]
            return (
                text[: last.end_mark.index]
                + ","
                + _eol(text)
                + indent
                + flat
                + text[last.end_mark.index :]
            )
        return text[: last.end_mark.index] + ", " + flat + text[last.end_mark.index :]
    if not seq.value:
        msg = f"{path}: the items list is empty in block style; write it as [] or add one by hand"
        raise EditRefused(msg)
    last = seq.value[-1]
    line_start = text.rfind("\n", 0, last.start_mark.index) + 1
    dash = text.rfind("-", line_start, last.start_mark.index)
    if dash < 0:
        msg = f"{path}:{last.start_mark.line + 1}: the last item is not on a '- ' line"
        raise EditRefused(msg)
    indent = text[line_start:dash]
    end = last.end_mark.index
    if not (end > 0 and text[end - 1] == "\n"):
        nl = text.find("\n", end)
        end = len(text) if nl < 0 else nl + 1
    prefix = text[:end]
    if prefix and not prefix.endswith("\n"):
        prefix += _eol(text)
    return prefix + indent + "- " + flat + _eol(text) + text[end:]


def append_to_items_file(text: str, item: Any, path: str) -> str:
    """An items file's ``text`` (one list) with ``item`` appended."""
    roots = _compose(text, path)
    if len(roots) != 1 or not isinstance(roots[0], yaml.SequenceNode):
        msg = f"{path}: an items file must hold one YAML/JSON list"
        raise EditRefused(msg)
    new = _insert(text, roots[0], item, path)
    expected = [[*documents_data(text, path)[0], item]]
    if documents_data(new, path) != expected:
        msg = f"{path}: appending in the text would change more than the list; add the item by hand"
        raise EditRefused(msg)
    return new


def append_to_inline_items(text: str, set_name: str, item: Any, path: str) -> str:
    """A spec file's ``text`` with ``item`` appended to WorkerSet ``set_name``'s inline items."""
    for index, root in enumerate(_compose(text, path)):
        if scalar(value_of(root, "kind")) != "WorkerSet":
            continue
        if scalar(value_of(value_of(root, "metadata"), "name")) != set_name:
            continue
        seq = value_of(value_of(root, "spec"), "items")
        if not isinstance(seq, yaml.SequenceNode):
            msg = f"{path}: WorkerSet/{set_name}: spec.items is not an inline list"
            raise EditRefused(msg)
        new = _insert(text, seq, item, path)
        expected = copy.deepcopy(documents_data(text, path))
        expected[index]["spec"]["items"].append(item)
        if documents_data(new, path) != expected:
            msg = (
                f"{path}:{seq.start_mark.line + 1}: WorkerSet/{set_name}: appending to its items "
                "in the text would change more than the list (anchors?); add the item by hand"
            )
            raise EditRefused(msg)
        return new
    msg = f'{path}: no WorkerSet "{set_name}" in this file'
    raise EditRefused(msg)
