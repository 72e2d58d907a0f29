"""The validated specs, remembered between commands: `orch status` need not parse them again.

A reconcile writes ``state/desired.json`` after each successful load; commands
that only read (`orch status`, `orch plan`) use it when nothing it was built
from changed: the same files under specs/ and config/ (path, size, mtime),
the same templates and items files, the same ORCH_* environment, the same
orch, and (with ``reconcile.source: committed``) the same commit at HEAD.
Anything else is a miss, and they load the specs as before. The file is
plain JSON rebuilt into the model's own frozen dataclasses (an allowlist), never
code: a file in state/ cannot make orch run anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.core import model
from reconciler.loop.state_store import write_atomic

CACHE_FILE = "desired.json"
_TYPES = {cls.__name__: cls for cls in (
    model.Config, model.Repo, model.Agent, model.Stage, model.Pipeline, model.RestartPolicy,
    model.Worker, model.WorkerSet, model.Source, model.Desired,
)}  # fmt: skip
_CODE = ("core/model.py", "spec/validate.py", "spec/build.py", "spec/config.py", "spec/expand.py")


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__dc__": type(value).__name__, **fields}
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, Mapping):
        return {"__map__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    msg = f"cannot cache a {type(value).__name__}"
    raise TypeError(msg)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _decode(value: Any) -> Any:
    # Plain values are not passed down: a thousand workers are ~35 000 values.
    kind = type(value)
    if kind is list:
        return [v if type(v) in _PLAIN else _decode(v) for v in value]
    if kind is not dict:
        return value
    if "__path__" in value:
        return Path(value["__path__"])
    if "__tuple__" in value:
        return tuple(v if type(v) in _PLAIN else _decode(v) for v in value["__tuple__"])
    if "__map__" in value:
        return {_decode(k): _decode(v) for k, v in value["__map__"]}
    cls = _TYPES[value["__dc__"]]  # KeyError: not one of ours, a miss
    return cls(**{k: v if type(v) in _PLAIN else _decode(v)
                  for k, v in value.items() if k != "__dc__"})  # fmt: skip


def fingerprint(root: Path, inputs: tuple[str, ...] = ()) -> tuple[tuple[str, int, int], ...]:
    """Path, mtime and size of every file under specs/ and config/, and of ``inputs``
    (templates and items files the specs use): cheap change detection."""
    paths = [Path(folder) / file for name in ("specs", "config")
             for folder, _, files in os.walk(root / name) for file in files]  # fmt: skip
    paths += [root / rel for rel in inputs]
    out = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            out.append((str(path), -1, -1))  # gone: a change too
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(sorted(set(out)))


def cache_key(
    root: Path, env: Mapping[str, str], inputs: tuple[str, ...], source: str = "worktree"
) -> str:
    """A hash of everything the desired state was built from.

    ``source``: where the specs were read (``committed:<HEAD>`` names the commit).
    """
    package = Path(__file__).resolve().parents[1]
    code = [(rel, (package / rel).stat().st_mtime_ns) for rel in _CODE]
    overrides = sorted((k, v) for k, v in env.items() if k.startswith("ORCH_"))
    parts = [__version__, str(root), overrides, code, fingerprint(root, inputs), source]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def read(root: Path, env: Mapping[str, str], source: str = "worktree") -> model.Desired | None:
    """The remembered desired state of ``root``, or None when it may be stale."""
    try:
        data = json.loads((root / "state" / CACHE_FILE).read_bytes())
        desired = _decode(data["desired"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(desired, model.Desired):
        return None
    if data.get("key") != cache_key(root, env, desired.inputs, source):
        return None
    return desired


def write(desired: model.Desired, env: Mapping[str, str], source: str = "worktree") -> None:
    """Remember ``desired`` (silently skipped when a value cannot be cached, or on I/O errors)."""
    try:
        key = cache_key(desired.root, env, desired.inputs, source)
        blob = {"key": key, "desired": _encode(desired)}
        # 0600: it holds the Agents' env as the specs give it, literal values included.
        write_atomic(desired.state_dir / CACHE_FILE, json.dumps(blob), mode=0o600)
    except (OSError, TypeError):
        return


def last(root: Path) -> model.Desired | None:
    """The last desired state a reconcile remembered, however stale (None without one).

    For commands that must work while the specs are invalid (``orch backups``,
    ``orch status``).
    """
    try:
        desired = _decode(json.loads((root / "state" / CACHE_FILE).read_bytes())["desired"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return desired if isinstance(desired, model.Desired) else None
