"""The playbooks a control repo offers: its own playbooks/*.md, then the built-in ones.

A control repo's file wins over the built-in guide of the same name, so an
edited copy is what `orch playbook show` prints; a control repo made before a
guide shipped still sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler import data
from reconciler.core.errors import UsageError
from reconciler.core.playbooks import describe

PLAYBOOKS_DIR = "playbooks"


@dataclass(frozen=True)
class Playbook:
    """One guide: its name (file name without .md), title, summary, where it comes from."""

    name: str
    title: str
    summary: str
    source: str  # "playbooks/<name>.md" or "built-in"
    text: str


def _found(root: Path) -> dict[str, tuple[str, str]]:
    """name -> (source, text), the control repo's own over the built-in ones."""
    out: dict[str, tuple[str, str]] = {}
    for entry in sorted(data.scaffold().joinpath(PLAYBOOKS_DIR).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md"):
            out[entry.name[:-3]] = ("built-in", entry.read_text())
    folder = root / PLAYBOOKS_DIR
    if folder.is_dir():
        for path in sorted(folder.glob("*.md")):
            try:
                out[path.stem] = (f"{PLAYBOOKS_DIR}/{path.name}", path.read_text())
            except (OSError, UnicodeDecodeError) as err:
                msg = f"{PLAYBOOKS_DIR}/{path.name}: cannot be read: {err}"
                raise UsageError(msg) from None
    return out


def list_playbooks(root: Path) -> list[Playbook]:
    """Every playbook, by name."""
    return [
        Playbook(name, *describe(text), source, text)
        for name, (source, text) in sorted(_found(root).items())
    ]


def show_playbook(root: Path, name: str) -> Playbook:
    """The playbook ``name`` (``.md`` optional); UsageError listing the names when unknown."""
    key = name.removesuffix(".md")
    for book in list_playbooks(root):
        if book.name == key:
            return book
    names = ", ".join(b.name for b in list_playbooks(root)) or "none"
    msg = f'no playbook "{name}"; there are: {names}'
    raise UsageError(msg)
