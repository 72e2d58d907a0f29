"""Minimal edits of spec files that keep their comments and formatting (text in, text out).

`orch suspend` and `orch resume` change one value, ``spec.suspend`` of one
Worker, in a file a person wrote. Rewriting the file through a YAML dumper
would drop its comments and reflow it; instead the edit is located with the
marks the YAML parser records (line, column and offset of every node) and
made in the text itself: the value of an existing ``suspend:`` key is
replaced, or a ``suspend: true`` line is added right under ``spec:`` at the
indentation of the spec's other keys, with the file's own line ending.

Every edit is checked before it is returned: the new text must parse to
exactly the data of the old one but for that value (an anchor, an alias or an
unusual layout that would make the edit reach further is refused). A
flow-style ``spec: {...}`` is refused rather than reformatted.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from reconciler.core.errors import OrchError
from reconciler.spec.yamlsource import parse_documents


class EditRefused(OrchError):
    """orch cannot make this edit safely in the text; a person has to make it."""


def set_worker_suspend(text: str, name: str, suspend: bool, path: str = "<spec>") -> str:
    """``text`` with Worker ``name``'s ``spec.suspend`` set to ``suspend``.

    Returns ``text`` itself when it already says so (an absent key means
    false). ``path`` only names the file in errors.

    Raises
    ------
    EditRefused
        No such Worker in ``text``, a flow-style spec, or an edit that would
        change more than that one value.

    Examples
    --------
    >>> text = "kind: Worker\\nmetadata: {name: w1}\\nspec:  # what w1 does\\n  repo: app\\n"
    >>> print(set_worker_suspend(text, "w1", True), end="")
    kind: Worker
    metadata: {name: w1}
    spec:  # what w1 does
      suspend: true
      repo: app
    >>> print(set_worker_suspend("kind: Worker\\nmetadata: {name: w1}\\n"
    ...       "spec:\\n  suspend: true  # on hold\\n", "w1", False), end="")
    kind: Worker
    metadata: {name: w1}
    spec:
      suspend: false  # on hold
    """
    key, spec = _spec_of(text, name, path)
    value = value_of(spec, "suspend")
    if value is None:
        new = _insert_key(text, key, spec, name, path) if suspend else text
    elif value.start_mark.index < key.end_mark.index:  # an alias of a value defined earlier
        raise _refusal(path, value, name, "spec.suspend is an alias; set it by hand")
    else:
        start, end = value.start_mark.index, value.end_mark.index
        new = text[:start] + ("true" if suspend else "false") + text[end:]
    if new != text:
        _check_only_suspend_changed(text, new, name, suspend, path)
    return new


def _refusal(path: str, node: yaml.Node | None, name: str, message: str) -> EditRefused:
    """``path:line:col: Worker/name: message`` (``path: ...`` without a node)."""
    where = path
    if node is not None:
        where += f":{node.start_mark.line + 1}:{node.start_mark.column + 1}"
    return EditRefused(f"{where}: Worker/{name}: {message}")


def scalar(node: yaml.Node | None) -> str | None:
    """The value of a scalar node, else None."""
    return node.value if isinstance(node, yaml.ScalarNode) else None


def value_of(mapping: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of ``key`` written in ``mapping`` itself (merge keys not followed)."""
    if not isinstance(mapping, yaml.MappingNode):
        return None
    for k, v in mapping.value:
        if scalar(k) == key:
            found: yaml.Node = v
            return found
    return None


def _key_of(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    return next((k for k, _ in mapping.value if scalar(k) == key), None)


def _spec_of(text: str, name: str, path: str) -> tuple[yaml.Node, yaml.MappingNode]:
    """The ``spec`` key node of Worker ``name`` and its block mapping."""
    try:
        roots = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        msg = f"{path}: cannot read the file as YAML: {err}"
        raise EditRefused(msg) from None
    for root in roots:
        if not isinstance(root, yaml.MappingNode) or scalar(value_of(root, "kind")) != "Worker":
            continue
        meta = value_of(root, "metadata")
        if meta is None or scalar(value_of(meta, "name")) != name:
            continue
        key, spec = _key_of(root, "spec"), value_of(root, "spec")
        if key is None or not isinstance(spec, yaml.MappingNode) or not spec.value:
            raise _refusal(path, root, name, "has no spec mapping to edit")
        if spec.flow_style:
            raise _refusal(
                path, spec, name, "spec is written in flow style ({...}); orch does not "
                "reformat it: set suspend by hand, or write spec in block style",
            )  # fmt: skip
        return key, spec
    msg = f'{path}: no Worker "{name}" in this file'
    raise EditRefused(msg)


def _insert_key(text: str, key: yaml.Node, spec: yaml.MappingNode, name: str, path: str) -> str:
    """Add ``suspend: true`` on the line after ``spec:``, indented like the spec's keys."""
    first = spec.value[0][0]
    eol = text.find("\n", key.end_mark.index)
    if eol < 0 or first.start_mark.line == key.start_mark.line:
        raise _refusal(path, key, name, "spec's keys do not start on their own line")
    newline = "\r\n" if text[eol - 1 : eol] == "\r" else "\n"
    line = " " * int(first.start_mark.column) + "suspend: true" + newline
    return text[: eol + 1] + line + text[eol + 1 :]


def documents_data(text: str, path: str) -> list[Any]:
    """The data of each document of ``text``; EditRefused when it does not parse."""
    docs, errors = parse_documents(path, text.encode("utf-8"))
    if errors:
        msg = f"the edited text does not parse: {errors[0]}"
        raise EditRefused(msg)
    return [d.data for d in docs]


def _is_worker(data: Any, name: str) -> bool:
    meta = data.get("metadata") if isinstance(data, dict) else None
    return data.get("kind") == "Worker" and isinstance(meta, dict) and meta.get("name") == name


def _check_only_suspend_changed(old: str, new: str, name: str, suspend: bool, path: str) -> None:
    """Refuse an edit after which the file holds other data than expected."""
    expected = copy.deepcopy(documents_data(old, path))
    for data in expected:
        if _is_worker(data, name) and isinstance(data.get("spec"), dict):
            data["spec"]["suspend"] = suspend
    if documents_data(new, path) != expected:
        why = "changing spec.suspend in the text would change more than that value"
        raise _refusal(path, None, name, f"{why} (anchors or aliases?); set it by hand")
