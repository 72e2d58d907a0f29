"""Plain-text rendering of tables and lists for the CLI (pure)."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded.

    Examples
    --------
    >>> print(table(["NAME", "PHASE"], [["a", "Running"], ["bb", "Failed"]]))
    NAME  PHASE
    a     Running
    bb    Failed
    """
    cells = [[str(h) for h in headers], *[["-" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)]
        lines.append("  ".join([*parts, row[-1]]).rstrip())
    return "\n".join(lines)
