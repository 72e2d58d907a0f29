"""Playbooks: markdown guides in playbooks/, described by their first heading (pure).

Examples
--------
>>> describe("# Fixing a bug\\n\\nReproduce it first,\\nthen fix.\\n\\n## Steps\\n")
('Fixing a bug', 'Reproduce it first, then fix.')
>>> describe("no heading at all")
('', 'no heading at all')
"""

from __future__ import annotations

import re

_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$")


def describe(text: str) -> tuple[str, str]:
    """The first ``# `` heading and the first paragraph after it (joined on one line)."""
    title = ""
    paragraph: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        heading = _HEADING.match(stripped)
        if heading and not title and not paragraph:
            title = heading[1]
            continue
        if stripped.startswith(("#", "```")):
            if paragraph:
                break
            continue
        if not stripped:
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    return title, " ".join(paragraph)
