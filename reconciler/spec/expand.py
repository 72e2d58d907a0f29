"""WorkerSet expansion: stamp the template over each item, in jinja2's sandbox.

The generated Worker documents keep the marks of the WorkerSet's template, so
an error in a generated worker points at the template line that made it.

A field whose template is one expression (``"{{ item.deps }}"``) takes the
value's own type (a list stays a list); when the item has no such key, the
field is left out and gets the Worker's default (``dependsOn: []``,
``branch: orch/<name>``), unless the Worker requires it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.errors import SpecError
from reconciler.core.model import API_VERSION
from reconciler.spec.paths import file_problem
from reconciler.spec.schemas import load_schema
from reconciler.spec.yamlsource import Document, parse_documents

# "{{ item.issue }}" alone keeps the item's own type (42 stays an int).
_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)
_OMIT = object()  # an undefined value of a field that has a default: leave the field out


def has_default(where: tuple[str | int, ...]) -> bool:
    """Whether the Worker spec field at ``where`` may be left out (it then has its default).

    Fields the Worker schema declares and does not require; not an entry of a
    list, nor a key of a free-form mapping such as ``vars``.

    Examples
    --------
    >>> has_default(("dependsOn",)), has_default(("branch",))
    (True, True)
    >>> has_default(("restartPolicy", "maxRestarts"))
    True
    >>> has_default(("repo",)), has_default(("vars", "issue")), has_default(("dependsOn", 0))
    (False, False, False)
    """
    node: Any = load_schema("worker")["properties"]["spec"]
    for key in where:
        if isinstance(key, int):
            return False
        parent, node = node, node.get("properties", {}).get(key)
        if not isinstance(node, dict):
            return False
    return "default" in node or where[-1] not in parent.get("required", [])


class _FieldError(Exception):
    """A template field that failed to render, and where it is in the template."""

    def __init__(self, where: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.where = where


class _Renderer:
    def __init__(self) -> None:
        from jinja2 import StrictUndefined, Undefined
        from jinja2.sandbox import SandboxedEnvironment

        self.env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        self.undefined = Undefined
        self.cache: dict[str, Any] = {}

    def render(self, value: Any, ctx: dict[str, Any], where: tuple[str | int, ...] = ()) -> Any:
        if isinstance(value, dict):
            out = {k: self.render(v, ctx, (*where, k)) for k, v in value.items()}
            return {k: v for k, v in out.items() if v is not _OMIT}
        if isinstance(value, list):
            return [self.render(v, ctx, (*where, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "{" not in value:
            return value
        try:
            return self._leaf(value, ctx, where)
        except Exception as err:
            raise _FieldError(where, str(err) or type(err).__name__) from err

    def _leaf(self, value: str, ctx: dict[str, Any], where: tuple[str | int, ...]) -> Any:
        compiled: tuple[str, Any] | None = self.cache.get(value)
        if compiled is None:
            single = _SINGLE_EXPR.match(value)
            if single:
                expr = single.group("expr")
                compiled = ("expr", self.env.compile_expression(expr, undefined_to_none=False))
            else:
                compiled = ("text", self.env.from_string(value))
            self.cache[value] = compiled
        how: str = compiled[0]
        fn: Any = compiled[1]
        if how == "expr":
            value = fn(**ctx)
            if isinstance(value, self.undefined):
                if where and has_default(where):
                    return _OMIT
                str(value)  # a StrictUndefined raises here, naming what is missing
            return value
        return fn.render(ctx)


def _load_items(doc: Document, root: Path) -> tuple[list[Any], list[SpecError]]:
    spec = doc.data["spec"]
    items = spec["items"]
    label = f"WorkerSet/{doc.data['metadata']['name']}"
    line, col = doc.mark(("spec", "items"))
    if isinstance(items, list):
        return items, []
    problem = file_problem(root, items, "items file")
    if problem:
        return [], [SpecError(doc.path, line, col, label, problem)]
    target = (root / items).resolve()
    rel = str(target.relative_to(root.resolve()))
    docs, errors = parse_documents(rel, target.read_bytes())
    if errors:
        return [], errors
    if len(docs) != 1 or not isinstance(docs[0].data, list):
        return [], [SpecError(rel, 1, 1, label, "an items file must hold one YAML/JSON list")]
    return docs[0].data, []


@dataclass
class Expansion:
    """What one WorkerSet made: its workers, its errors, and what the errors hide.

    ``failed``: stand-ins for items whose name rendered but whose template did
    not, so a dependency on them is not reported a second time as unknown.
    ``complete``: every item got a name (else some worker names are unknown).
    """

    workers: list[Document] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)
    failed: list[Document] = field(default_factory=list)
    complete: bool = True


def expand_worker_set(doc: Document, root: Path) -> Expansion:
    """Worker documents generated from a schema-valid WorkerSet document ``doc``."""
    spec = doc.data["spec"]
    set_name = doc.data["metadata"]["name"]
    label = f"WorkerSet/{set_name}"
    items, errors = _load_items(doc, root)
    done = Expansion(errors=errors, complete=not errors)
    renderer = _Renderer()
    template_marks = {
        ("spec", *key[2:]): mark
        for key, mark in doc.marks.items()
        if key[:2] == ("spec", "template")
    }
    template_marks[("metadata", "name")] = doc.mark(("spec", "nameTemplate"))
    template_marks[("metadata",)] = doc.mark(("spec", "nameTemplate"))
    labels = dict(doc.data["metadata"].get("labels", {}))
    for index, item in enumerate(items):
        ctx = {"item": item, "index": index}
        name: str | None = None
        try:
            name = str(renderer.render(spec["nameTemplate"], ctx)).strip()
            rendered = renderer.render(spec["template"], ctx)
        except _FieldError as err:
            named = name is not None
            line, col = doc.mark(
                ("spec", "template", *err.where) if named else ("spec", "nameTemplate")
            )
            done.errors.append(SpecError(doc.path, line, col, label, f"item {index}: {err}"))
            data = {"kind": "Worker", "metadata": {"name": name}}
            if name is None:
                done.complete = False
            else:
                done.failed.append(Document(doc.path, data, line, col, dict(template_marks)))
            continue
        data = {
            "apiVersion": API_VERSION,
            "kind": "Worker",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": rendered,
        }
        line, col = doc.mark(("spec", "template"))
        done.workers.append(Document(doc.path, data, line, col, dict(template_marks), item=item))
    return done
