"""One mistake, one message: the errors a WorkerSet's template causes in each of its workers.

A template mistake repeats in every worker the set generates (and an item's
render error in every item). Errors at the same place of the same set that
say the same thing (quoted values aside) become one error that names the
others, in item order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from reconciler.core.errors import SpecError

_ITEM = re.compile(r"^item (\d+): ")
_QUOTED = re.compile(r'"[^"]*"')
SHOWN = 5  # names listed before "and N more"


def _key(err: SpecError, members: Mapping[str, str]) -> tuple[object, ...] | None:
    """What makes two errors the same mistake of one WorkerSet, or None (not of a set)."""
    kind, _, name = (err.obj or "").partition("/")
    if kind == "Worker" and name in members:
        owner, message = members[name], err.message
    elif kind == "WorkerSet" and _ITEM.match(err.message):
        owner, message = name, _ITEM.sub("", err.message)
    else:
        return None
    return (owner, kind, err.path, err.line, err.col, _QUOTED.sub('"…"', message))


def listed(names: list[str]) -> str:
    """``a, b`` or ``a, b, c, d, e and 3 more``.

    >>> listed(["a", "b"]), listed([str(i) for i in range(8)])
    ('a, b', '0, 1, 2, 3, 4 and 3 more')
    """
    shown = ", ".join(names[:SHOWN])
    return shown if len(names) <= SHOWN else f"{shown} and {len(names) - SHOWN} more"


def collapse(errors: list[SpecError], members: Mapping[str, str]) -> list[SpecError]:
    """``errors`` with each repeated WorkerSet mistake reported once.

    ``members``: generated worker name -> its WorkerSet. The first error of a
    group (in the order found, which is item order) stands for it.
    """
    groups: dict[tuple[object, ...], list[SpecError]] = {}
    out: list[SpecError | tuple[object, ...]] = []
    for err in errors:
        key = _key(err, members)
        if key is None:
            out.append(err)
            continue
        if key not in groups:
            groups[key] = []
            out.append(key)
        groups[key].append(err)
    return [item if isinstance(item, SpecError) else _merged(groups[item]) for item in out]


def _merged(group: list[SpecError]) -> SpecError:
    first = group[0]
    if len(group) == 1:
        return first
    if first.obj and first.obj.startswith("Worker/"):
        others = [(e.obj or "").partition("/")[2] for e in group[1:]]
        message = f"{first.message} (the same in {listed(others)})"
    else:
        indexes = [m.group(1) for e in group if (m := _ITEM.match(e.message))]
        message = f"items {listed(indexes)}: {_ITEM.sub('', first.message)}"
    return SpecError(first.path, first.line, first.col, first.obj, message)
