"""YAML text -> plain data plus the line and column of every key and item.

pyyaml's composer gives nodes with marks; this module turns them into plain
Python data itself so that it can (a) remember where each value came from,
(b) reject duplicate keys, which pyyaml accepts silently, and (c) stop an
alias bomb ("billion laughs") after a bounded number of nodes instead of
expanding it in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from reconciler.core.errors import SpecError

# A spec file of a few thousand workers has well under this many nodes; an
# alias bomb reaches it in microseconds.
MAX_NODES = 200_000
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]


@dataclass
class Document:
    """One YAML document: its data and where each part of it stands."""

    path: str
    data: Any
    line: int
    col: int
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    item: Any = None  # a Worker made by a WorkerSet: the item it was stamped from

    def mark(self, where: PathKey) -> tuple[int, int]:
        """Line and column of ``where``, or of its nearest located parent."""
        key = tuple(where)
        while key:
            if key in self.marks:
                return self.marks[key]
            key = key[:-1]
        return (self.line, self.col)


class _Builder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.count = 0
        self.constructor = SafeConstructor()
        self.marks: dict[PathKey, tuple[int, int]] = {}
        self.errors: list[SpecError] = []

    def error(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.errors.append(SpecError(self.path, mark.line + 1, mark.column + 1, None, message))

    def build(self, node: yaml.Node, where: PathKey, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node)
        if depth > MAX_DEPTH:
            raise _TooDeep(node)
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, where, depth)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, child in enumerate(node.value):
                self.marks[(*where, i)] = (child.start_mark.line + 1, child.start_mark.column + 1)
                items.append(self.build(child, (*where, i), depth + 1))
            return items
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as err:
            self.error(node, f"bad value: {getattr(err, 'problem', err)}")
            return None

    def build_mapping(self, node: yaml.MappingNode, where: PathKey, depth: int) -> Any:
        self.constructor.flatten_mapping(node)  # resolves `<<` merge keys
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.build(key_node, where, depth + 1)
            if not isinstance(key, str | int | float | bool) and key is not None:
                self.error(key_node, "a mapping key must be a plain scalar")
                continue
            skey = key if isinstance(key, str) else str(key)
            if skey in out:
                self.error(key_node, f'duplicate key "{skey}"')
                continue
            self.marks[(*where, skey)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            out[skey] = self.build(value_node, (*where, skey), depth + 1)
        return out


# libyaml's C parser when present: several times faster, same marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TooBig(Exception):
    message = (
        f"document expands to more than {MAX_NODES} values; "
        "refusing it (aliases nested like a 'billion laughs' bomb?)"
    )

    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _TooDeep(_TooBig):
    message = f"document nests deeper than {MAX_DEPTH} levels (or an alias refers to itself)"


def expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """How many values ``node`` becomes once aliases are expanded (memoized, so cheap).

    Aliases are shared node objects in pyyaml's graph; counting each distinct
    node once per reference, with memoization, finds a bomb without building it.
    A node that contains itself counts as too big.
    """
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        return MAX_NODES + 1
    active.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += expanded_size(child, memo, active)
            if total > MAX_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += expanded_size(k, memo, active) + expanded_size(v, memo, active)
            if total > MAX_NODES:
                break
    active.discard(key)
    memo[key] = total
    return total


def _compose(text: str) -> Iterator[yaml.Node]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    finally:
        loader.dispose()


def _yaml_error(path: str, err: yaml.YAMLError, text: str) -> SpecError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    position = getattr(err, "position", None)  # a ReaderError has no mark, only an offset
    if mark is None and isinstance(position, int):
        before = text[:position]
        line, col = before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    ctx_mark = getattr(err, "context_mark", None)
    if context and ctx_mark is not None and mark is not None and ctx_mark.line != mark.line:
        context += f" that starts at line {ctx_mark.line + 1}"
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return SpecError(path, line, col, None, message)


def parse_documents(path: str, raw: bytes) -> tuple[list[Document], list[SpecError]]:
    """Parse every YAML document in ``raw``; return them with all problems found.

    A syntax error stops the file (later documents cannot be trusted); other
    problems (duplicate keys, bad scalars) are collected and parsing goes on.

    Examples
    --------
    >>> docs, errs = parse_documents("a.yaml", b"a: 1\\na: 2\\n")
    >>> [str(e) for e in errs]
    ['a.yaml:2:1: duplicate key "a"']
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        return [], [SpecError(path, line, 1, None, "file is not valid UTF-8 text")]
    docs: list[Document] = []
    errors: list[SpecError] = []
    try:
        for node in _compose(text):
            builder = _Builder(path)
            try:
                if expanded_size(node, {}, set()) > MAX_NODES:
                    raise _TooBig(node)
                data = builder.build(node, (), 0)
            except _TooBig as big:  # _TooDeep too
                mark = big.node.start_mark
                errors.append(SpecError(path, mark.line + 1, mark.column + 1, None, big.message))
                continue
            errors.extend(builder.errors)
            start = node.start_mark
            docs.append(Document(path, data, start.line + 1, start.column + 1, builder.marks))
    except yaml.YAMLError as err:
        errors.append(_yaml_error(path, err, text))
    except RecursionError:
        errors.append(SpecError(path, 1, 1, None, "YAML nests too deeply to read"))
    return docs, errors
