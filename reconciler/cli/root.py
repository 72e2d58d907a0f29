"""Finding the control repo: --root, else ORCH_ROOT, else the nearest marked parent.

A control repo is a folder holding ``specs/`` or ``config/orch.yaml``. A
folder that is neither, or a --root/ORCH_ROOT that does not exist, is an error
(exit 1): acting on it would report an empty fleet and leave ``state/`` and
``reports/`` in a stray folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler.core.errors import UsageError


def is_control_repo(folder: Path) -> bool:
    """Whether ``folder`` holds ``specs/`` or ``config/orch.yaml``."""
    return (folder / "specs").is_dir() or (folder / "config" / "orch.yaml").is_file()


def find_root(given: Path | None, env: Mapping[str, str], cwd: Path) -> Path:
    """The control repo to act on; UsageError when there is none.

    ``given`` (``--root``) wins, then ``ORCH_ROOT``, then the nearest folder at or
    above ``cwd`` holding ``specs/`` or ``config/orch.yaml``.
    """
    if given is not None:
        return _checked(given.expanduser().resolve(), "--root")
    if env.get("ORCH_ROOT"):
        return _checked(Path(env["ORCH_ROOT"]).expanduser().resolve(), "ORCH_ROOT")
    here = cwd.resolve()
    for folder in (here, *here.parents):
        if is_control_repo(folder):
            return folder
    msg = (
        f"no control repo at {here} or above it (a control repo holds specs/ or "
        "config/orch.yaml); cd into one, pass --root DIR, or make one with `orch init DIR`"
    )
    raise UsageError(msg)


def _checked(folder: Path, how: str) -> Path:
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        msg = f"{how} {folder} {what}"
        raise UsageError(msg)
    if not is_control_repo(folder):
        msg = (
            f"{how} {folder} is not a control repo (it holds neither specs/ nor "
            "config/orch.yaml); make one with `orch init DIR`"
        )
        raise UsageError(msg)
    return folder


def target_root(given: Path | None, env: Mapping[str, str], cwd: Path) -> Path:
    """Where a command that writes a control repo's first files acts (e.g. an import).

    As :func:`find_root`, but none of the folders need be a control repo yet:
    ``--root``, else ``ORCH_ROOT``, else the nearest control repo, else ``cwd``.
    """
    if given is not None:
        return given.expanduser().resolve()
    if env.get("ORCH_ROOT"):
        return Path(env["ORCH_ROOT"]).expanduser().resolve()
    here = cwd.resolve()
    return next((f for f in (here, *here.parents) if is_control_repo(f)), here)
