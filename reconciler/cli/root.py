"""Finding the control repo: --root, else ORCH_ROOT, else the nearest marked parent."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def find_root(given: Path | None, env: Mapping[str, str], cwd: Path) -> Path:
    """The control repo to act on.

    ``given`` (``--root``) wins, then ``ORCH_ROOT``, then the nearest folder at or
    above ``cwd`` holding ``specs/`` or ``config/orch.yaml``, else ``cwd``.
    """
    if given is not None:
        return given.expanduser().resolve()
    if env.get("ORCH_ROOT"):
        return Path(env["ORCH_ROOT"]).expanduser().resolve()
    here = cwd.resolve()
    for folder in (here, *here.parents):
        if (folder / "specs").is_dir() or (folder / "config" / "orch.yaml").is_file():
            return folder
    return here
