"""`orch init DIR`: a new control repo with an example fleet that validates and runs."""

from __future__ import annotations

import json
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


EDITOR_SETTINGS = ".vscode/settings.json"


def write_schemas(root: Path) -> list[Path]:
    """Write the schemas editors validate the specs and config/orch.yaml with; their paths."""
    from reconciler.spec.schemas import (
        CONFIG_SCHEMA_FILE,
        SPECS_SCHEMA_FILE,
        combined_schema,
        load_schema,
    )

    written = []
    for rel, schema in ((SPECS_SCHEMA_FILE, combined_schema()),
                        (CONFIG_SCHEMA_FILE, load_schema("config"))):  # fmt: skip
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def editor_settings() -> dict[str, object]:
    """VS Code's YAML extension: which schema validates which files of the control repo."""
    from reconciler.spec.schemas import CONFIG_SCHEMA_FILE, SPECS_SCHEMA_FILE

    return {
        "yaml.schemas": {
            f"./{SPECS_SCHEMA_FILE}": ["specs/**/*.yaml", "specs/**/*.yml"],
            f"./{CONFIG_SCHEMA_FILE}": ["config/orch.yaml"],
        }
    }


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
    write_schemas(target)  # the spec files' first line points editors at schema/orch.json
    (target / EDITOR_SETTINGS).parent.mkdir()
    (target / EDITOR_SETTINGS).write_text(json.dumps(editor_settings(), indent=2) + "\n")
    try:
        init_repo(target)
        commit_all(target, "orch init: example control repo")
    except DriverError as err:
        msg = f"git could not set up {target}: {err}"
        raise UsageError(msg) from err
    return target
