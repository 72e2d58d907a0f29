"""`orch init DIR`: a new control repo with an example fleet that validates and runs."""

from __future__ import annotations

from importlib.abc import Traversable
from pathlib import Path

from reconciler import data
from reconciler.core.errors import DriverError, UsageError

# Package data cannot hold a dotfile reliably; renamed on the way out.
_RENAMES = {"gitignore": ".gitignore"}


def copy_tree(src: Traversable, dest: Path) -> None:
    """Copy packaged data to ``dest``: dotfiles renamed, ``*.sh`` made executable."""
    for entry in src.iterdir():
        if entry.name in ("__pycache__", "__init__.py"):
            continue
        target = dest / _RENAMES.get(entry.name, entry.name)
        if entry.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            copy_tree(entry, target)
        else:
            target.write_bytes(entry.read_bytes())
            if target.suffix == ".sh":
                target.chmod(0o755)


def scaffold(directory: Path) -> Path:
    """Create the control repo in ``directory`` (new or empty) and commit it."""
    from reconciler.drivers.git import init_repo
    from reconciler.drivers.gitops import commit_all

    target = directory.expanduser().resolve()
    if target.exists() and not target.is_dir():
        msg = f"{target} exists and is not a folder"
        raise UsageError(msg)
    if target.exists() and any(target.iterdir()):
        msg = f"{target} is not empty; orch init only fills a new or empty folder"
        raise UsageError(msg)
    target.mkdir(parents=True, exist_ok=True)
    copy_tree(data.scaffold(), target)
    for folder in ("reports",):
        (target / folder).mkdir(exist_ok=True)
        (target / folder / ".gitkeep").write_text("")
    try:
        init_repo(target)
        commit_all(target, "orch init: example control repo")
    except DriverError as err:
        msg = f"git could not set up {target}: {err}"
        raise UsageError(msg) from err
    return target
