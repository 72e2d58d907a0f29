"""WorkerSet expansion: stamp the template over each item, in jinja2's sandbox.

The generated Worker documents keep the marks of the WorkerSet's template, so
an error in a generated worker points at the template line that made it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reconciler.core.errors import SpecError
from reconciler.core.model import API_VERSION
from reconciler.spec.paths import file_problem
from reconciler.spec.yamlsource import Document, PathKey, parse_documents

# "{{ item.issue }}" alone keeps the item's own type (42 stays an int).
_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)


class _Renderer:
    def __init__(self) -> None:
        from jinja2 import StrictUndefined, Undefined
        from jinja2.sandbox import SandboxedEnvironment

        self.env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        self.undefined = Undefined
        self.cache: dict[str, Any] = {}

    def render(self, value: Any, ctx: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            return {k: self.render(v, ctx) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, ctx) for v in value]
        if not isinstance(value, str) or "{" not in value:
            return value
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


def expand_worker_set(doc: Document, root: Path) -> tuple[list[Document], list[SpecError]]:
    """Worker documents generated from a schema-valid WorkerSet document ``doc``."""
    spec = doc.data["spec"]
    set_name = doc.data["metadata"]["name"]
    label = f"WorkerSet/{set_name}"
    items, errors = _load_items(doc, root)
    renderer = _Renderer()
    template_marks = {
        ("spec", *key[2:]): mark
        for key, mark in doc.marks.items()
        if key[:2] == ("spec", "template")
    }
    template_marks[("metadata", "name")] = doc.mark(("spec", "nameTemplate"))
    template_marks[("metadata",)] = doc.mark(("spec", "nameTemplate"))
    out: list[Document] = []
    for index, item in enumerate(items):
        ctx = {"item": item, "index": index}
        where: PathKey = ("spec", "nameTemplate")
        try:
            name = str(renderer.render(spec["nameTemplate"], ctx)).strip()
            where = ("spec", "template")
            rendered = renderer.render(spec["template"], ctx)
        except Exception as err:  # noqa: BLE001 - user templates can raise anything
            line, col = doc.mark(where)
            text = str(err) or type(err).__name__
            errors.append(SpecError(doc.path, line, col, label, f"item {index}: {text}"))
            continue
        data = {
            "apiVersion": API_VERSION,
            "kind": "Worker",
            "metadata": {"name": name, "labels": dict(doc.data["metadata"].get("labels", {}))},
            "spec": rendered,
        }
        line, col = doc.mark(("spec", "template"))
        out.append(Document(doc.path, data, line, col, dict(template_marks), item=item))
    return out, errors
