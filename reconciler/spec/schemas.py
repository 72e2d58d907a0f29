"""The JSON Schemas shipped with orch, and their errors turned into SpecErrors.

One schema per kind (``spec/schema/<kind>.json``) plus ``config.json`` for
config/orch.yaml. jsonschema's messages are rephrased into ones a user can act
on, located at the key or item that is wrong.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

from reconciler.core.errors import SpecError
from reconciler.spec.yamlsource import Document, PathKey

_DURATION_FIELDS = frozenset(
    {
        "stallTimeout",
        "timeout",
        "initial",
        "max",
        "resync",
        "debounce",
        "pullInterval",
        "minInterval",
        "stopGrace",
        "git",
        "network",
        "tmux",
        "toolTimeout",
        "startInterval",
        "pause",
        "maxPause",
    }
)
SCHEMA_NAMES = ("repo", "agent", "pipeline", "worker", "workerset", "config")
KIND_SCHEMAS = {"Repo": "repo", "Agent": "agent", "Pipeline": "pipeline", "Worker": "worker",
                "WorkerSet": "workerset"}  # fmt: skip
SCHEMA_ID = "urn:orch:schema:v1"
# Where a control repo keeps the schemas for editors (`orch init`, `orch schema --write`).
SPECS_SCHEMA_FILE = "schema/orch.json"
CONFIG_SCHEMA_FILE = "schema/config.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema called ``name`` (a kind in lower case, or ``config``)."""
    text = resources.files("reconciler").joinpath(f"spec/schema/{name}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def combined_schema() -> dict[str, Any]:
    """One schema for any document of a spec file: each kind's schema, chosen by ``kind``.

    ``if``/``then`` on ``kind`` (rather than a bare ``oneOf`` of the kinds) makes
    a validator report the errors of the document's own kind only. Each kind's
    schema sits under ``$defs/<Kind>``, its own ``$defs`` references rebased.
    """
    defs = {}
    for kind, name in KIND_SCHEMAS.items():
        sub = _rebased(load_schema(name), f"#/$defs/{kind}")
        sub.pop("$schema", None)
        defs[kind] = sub
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "orch spec document",
        "description": "One document of a spec file under specs/ (files hold several, "
        "separated by ---): a Repo, Agent, Pipeline, Worker or WorkerSet.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "orch/v1", "description": 'Always "orch/v1".'},
            "kind": {"enum": list(KIND_SCHEMAS), "description": "The object kind."},
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": f"#/$defs/{kind}"},
            }
            for kind in KIND_SCHEMAS
        ],
        "$defs": defs,
    }


def _rebased(node: Any, base: str) -> Any:
    """``node`` with every local ``$ref`` ("#/...") moved under ``base``.

    >>> _rebased({"a": {"$ref": "#/$defs/name"}, "b": ["#/x"]}, "#/$defs/Repo")
    {'a': {'$ref': '#/$defs/Repo/$defs/name'}, 'b': ['#/x']}
    """
    if isinstance(node, dict):
        return {
            k: base + v[1:] if k == "$ref" and isinstance(v, str) and v.startswith("#/")
            else _rebased(v, base)
            for k, v in node.items()
        }  # fmt: skip
    if isinstance(node, list):
        return [_rebased(v, base) for v in node]
    return node


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name))


def schema_errors(doc: Document, schema: str, obj: str | None, data: Any = None) -> list[SpecError]:
    """Every schema violation of ``doc`` (or of ``data`` located by ``doc``'s marks)."""
    instance = doc.data if data is None else data
    found: list[SpecError] = []
    for err in _validator(schema).iter_errors(instance):
        for where, message in _explain(err):
            line, col = doc.mark(where)
            found.append(SpecError(doc.path, line, col, obj, message))
    return found


def _explain(err: Any) -> list[tuple[PathKey, str]]:
    where: PathKey = tuple(err.absolute_path)
    field = _field(where)
    kind = err.validator
    if kind == "additionalProperties" and isinstance(err.instance, dict):
        known = sorted(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in known]
        return [((*where, k), _unknown_field(k, known, where)) for k in extra]
    if kind == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        parent = f" in {dotted(where)}" if where else ""
        return [(where, f'missing required field "{missing}"{parent}')]
    if kind == "oneOf" and isinstance(err.instance, dict) and _agent_spec(err.validator_value):
        if {"command", "profile"} <= set(err.instance):
            return [(where, "give `command` (your own argv) or `profile` (built in), not both")]
        profiles = "claude, codex, aider or shell"
        return [(where, f"missing required field: `command`, or `profile` ({profiles})")]
    if kind == "oneOf" and isinstance(err.instance, dict) and {"path", "url"} & set(err.instance):
        return [
            (where, "give exactly one of `path` (a local clone) or `url` (cloned under state/)")
        ]
    if (
        kind == "oneOf"
        and isinstance(err.instance, dict)
        and not {"path", "url"} & set(err.instance)
    ):
        return [(where, "missing required field: one of `path` (a local clone) or `url`")]
    if kind == "pattern":
        pattern = str(err.validator_value).removesuffix(_NO_NEWLINE)
        text = f"{field} {_show(err.instance)} does not match {pattern}{_pattern_hint(where)}"
        return [(where, text)]
    if kind == "enum":
        options = ", ".join(map(str, err.validator_value))
        return [(where, f"{field} {_show(err.instance)} is not one of: {options}")]
    if kind == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        text = f"{field} must be {_article(want)}, not {_type_name(err.instance)}"
        return [(where, text + _duration_hint(err.schema, err.instance))]
    if kind == "const":
        return [(where, f"{field} must be {json.dumps(err.validator_value, ensure_ascii=False)}")]
    return [(where, f"{field}: {err.message}")]


def _duration_hint(schema: Any, value: Any) -> str:
    """A number where a duration belongs: which string was probably meant.

    >>> _duration_hint({"pattern": "^(...|[0-9]+ms)$"}, 60)
    '; did you mean "60s"? (a duration needs its unit: s, m, h or ms)'
    >>> _duration_hint({"pattern": "^[a-z]$"}, 60), _duration_hint({"pattern": "ms)"}, True)
    ('', '')
    """
    is_duration = isinstance(schema, dict) and "ms)" in str(schema.get("pattern", ""))
    if not is_duration or isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f'; did you mean "{value:g}s"? (a duration needs its unit: s, m, h or ms)'


def _field(where: PathKey) -> str:
    """The field an error is about: ``allowedTools[1]`` for an item of a list.

    >>> _field(("spec", "allowedTools", 1)), _field(("spec", "env")), _field(())
    ('allowedTools[1]', 'env', 'value')
    """
    indexes = ""
    for key in reversed(where):
        if isinstance(key, int):
            indexes = f"[{key}]{indexes}"
        else:
            return f"{key}{indexes}"
    return "value"


def _agent_spec(branches: Any) -> bool:
    """Whether a oneOf is the Agent's command-or-profile choice."""
    firsts = {b.get("required", [""])[0] for b in branches if isinstance(b, dict)}
    return firsts == {"command", "profile"}


# Schema patterns end in "$(?!\n)": jsonschema uses re.search, where "$" alone
# would also match before a trailing newline.
_NO_NEWLINE = "(?!\n)"


def _show(value: Any) -> str:
    """A value as JSON, keeping non-ASCII text readable."""
    return json.dumps(value, ensure_ascii=False)


def dotted(where: PathKey) -> str:
    """A path as a user writes it: ``spec.stages[0].name``."""
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pattern_hint(where: PathKey) -> str:
    last = where[-1] if where else ""
    if last == "name" or (len(where) >= 2 and where[-2] in ("dependsOn",)):
        return " (lowercase letters, digits and '-', starting with a letter or digit, at most 63)"
    if last in ("branch", "base"):
        return " (a git ref: letters, digits, '.', '_', '/', '-'; no '..', no leading '-')"
    if last in _DURATION_FIELDS:
        return " (durations look like 30s, 10m, 2h, 1h30m)"
    return ""


def _unknown_field(key: str, known: list[str], where: PathKey) -> str:
    parent = f" in {dotted(where)}" if where else ""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f'; did you mean "{close[0]}"?' if close else f" (known: {', '.join(known)})"
    return f'unknown field "{key}"{parent}{hint}'


def _type_name(value: Any) -> str:
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _article(want: str) -> str:
    table = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "boolean": "a boolean",
        "integer": "an integer",
        "number": "a number",
        "null": "null",
    }
    return " or ".join(table.get(w, w) for w in want.split(" or "))
