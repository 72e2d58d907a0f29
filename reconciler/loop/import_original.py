"""`orch import DIR`: read the original orchestrator's JSON files, write specs, validate them.

The mapping is :mod:`reconciler.spec.importer`; this module reads the ``*.json``
files of DIR, finds which local clones exist, writes the files (refusing to
overwrite unless asked) and loads the specs of the target: when they do not
validate, every file written is put back as it was and the errors are raised.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.errors import UsageError
from reconciler.loop.state_store import write_atomic
from reconciler.spec.importer import import_original, locals_named
from reconciler.spec.original import Unmapped
from reconciler.spec.validate import load_desired


@dataclass(frozen=True)
class ImportReport:
    """What `orch import` wrote, what it left out, and what the target now holds."""

    files: tuple[str, ...]
    unmapped: tuple[Unmapped, ...]
    ignored: dict[str, int]
    workers: int
    repos: int
    pipelines: int


def read_sources(src: Path) -> dict[str, Any]:
    """Every ``*.json`` of ``src``, parsed; UsageError with file:line for broken JSON."""
    if not src.is_dir():
        msg = f"{src} is not a folder (give the folder holding repos.json and *-issues.json)"
        raise UsageError(msg)
    sources: dict[str, Any] = {}
    for path in sorted(src.glob("*.json")):
        try:
            sources[path.name] = json.loads(path.read_bytes())
        except json.JSONDecodeError as err:
            msg = f"{path}:{err.lineno}:{err.colno}: not valid JSON: {err.msg}"
            raise UsageError(msg) from None
        except (OSError, UnicodeDecodeError) as err:
            msg = f"{path}: cannot be read: {err}"
            raise UsageError(msg) from None
    if not sources:
        msg = f"{src} holds no .json file (repos.json, workflows.json, *-issues.json)"
        raise UsageError(msg)
    return sources


def find_clones(src: Path, out: Path, locals_: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Local path as written -> the path a Repo in ``out`` gives it: of the clones, of all."""
    clones, paths = {}, {}
    for local in locals_:
        path = (src / Path(local).expanduser()).resolve()
        paths[local] = os.path.relpath(path, out.resolve())
        if (path / ".git").exists() or (path / "HEAD").is_file():
            clones[local] = paths[local]
    return clones, paths


def import_dir(
    src: Path, out: Path, env: Mapping[str, str], *, agent: str = "claude", force: bool = False
) -> ImportReport:
    """Import the configuration in ``src`` into the control repo ``out``."""
    sources = read_sources(src)
    clones, paths = find_clones(src, out, locals_named(sources))
    result = import_original(sources, clones, agent, paths)
    taken = sorted(rel for rel in result.files if (out / rel).exists())
    if taken and not force:
        msg = f"would overwrite {', '.join(taken)} in {out}; use --force, or --out elsewhere"
        raise UsageError(msg)
    old = {rel: (out / rel).read_bytes() if (out / rel).exists() else None for rel in result.files}
    new_dirs = sorted(
        {p for rel in result.files for p in (out / rel).parents if p.is_relative_to(out)}
        - {p for p in out.rglob("*") if p.is_dir()} - {out},
        key=lambda p: len(p.parts), reverse=True,
    )  # fmt: skip
    try:
        for rel, text in result.files.items():
            write_atomic(out / rel, text)
        desired = load_desired(out, env, require_env=False)
    except BaseException:
        _put_back(out, old, new_dirs)
        raise
    return ImportReport(
        tuple(result.files),
        tuple(result.unmapped),
        dict(result.ignored),
        len(desired.workers),
        len(desired.repos),
        len(desired.pipelines),
    )


def _put_back(out: Path, old: Mapping[str, bytes | None], new_dirs: list[Path]) -> None:
    """Every file as it was before the import; the folders it made removed."""
    for rel, data in old.items():
        if data is None:
            (out / rel).unlink(missing_ok=True)
        else:
            (out / rel).write_bytes(data)
    for folder in new_dirs:  # deepest first
        with contextlib.suppress(OSError):
            folder.rmdir()
