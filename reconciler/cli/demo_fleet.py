"""What `orch demo` sets up: a small app repo, a control repo for it, the stub's script.

The files come from the package's ``data/demo``; ``@{name}`` placeholders in
the control repo's YAML are filled in here (orch's ``${VAR}`` and Jinja's
``{{ }}`` are left alone, as is any other ``@``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reconciler import data
from reconciler.cli.init import copy_tree
from reconciler.core.errors import DriverError, UsageError

# What scripts/setup (and CI) install: the Claude Code CLI version orch is tested against.
SOURCE_TREE_CLAUDE = Path(".ci") / "node" / "node_modules" / ".bin" / "claude"
_FILLED = ("config/orch.yaml", "specs/fleet.yaml")


class _Placeholders(string.Template):
    delimiter = "@"


@dataclass(frozen=True)
class DemoFleet:
    """The demo's folders and names."""

    folder: Path
    app: Path
    control: Path
    script: Path
    socket: str


def find_claude(given: Path | None, env_path: str | None, source_tree: Path) -> Path:
    """The claude binary: ``given``, else on PATH, else the one scripts/setup installs."""
    if given is not None:
        if not (given.is_file() and os.access(given, os.X_OK)):
            msg = f"--claude {given}: not an executable file"
            raise UsageError(msg)
        return given.absolute()
    found = shutil.which("claude", path=env_path)
    if found:
        return Path(found).absolute()
    local = source_tree / SOURCE_TREE_CLAUDE
    if local.is_file():
        return local.absolute()
    msg = (
        "orch demo runs the real Claude Code CLI, and `claude` is not on PATH: run "
        "./scripts/setup (it installs the tested version with npm), or "
        "`npm install -g @anthropic-ai/claude-code`, or pass --claude PATH"
    )
    raise UsageError(msg)


def make_demo(directory: Path | None, claude: Path, socket: str | None) -> DemoFleet:
    """Create the demo in ``directory`` (new or empty; default: a new temp folder).

    On any failure what was made is removed again: no half-made demo is left.
    """
    folder = _empty_folder(directory)
    fleet = DemoFleet(
        folder=folder,
        app=folder / "app",
        control=folder / "control",
        script=folder / "stub-script.json",
        socket=socket or f"orch-demo-{secrets.token_hex(3)}",
    )
    try:
        _fill(fleet, claude)
    except BaseException:
        for child in folder.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    return fleet


def _fill(fleet: DemoFleet, claude: Path) -> None:
    from reconciler.drivers.git import init_repo
    from reconciler.drivers.gitops import commit_all

    source = data.demo()
    fleet.script.write_bytes(source.joinpath("stub-script.json").read_bytes())
    (fleet.folder / "claude-config").mkdir()
    values = {
        "app": str(fleet.app),
        "socket": fleet.socket,
        "claude_dir": str(claude.parent),
        "claude_config": str(fleet.folder / "claude-config"),
    }
    try:
        for repo, message in ((fleet.app, "calc: add and sub"), (fleet.control, "the demo fleet")):
            repo.mkdir()
            copy_tree(source.joinpath(repo.name), repo)
            if repo == fleet.control:
                for rel in _FILLED:
                    path = repo / rel
                    path.write_text(_Placeholders(path.read_text()).safe_substitute(values))
            init_repo(repo)
            commit_all(repo, message)
    except DriverError as err:
        msg = f"git could not set up the demo in {fleet.folder}: {err}"
        raise UsageError(msg) from err


def _empty_folder(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="orch-demo-")).resolve()
    target = directory.expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        msg = f"{target} is not an empty folder; orch demo only fills a new or empty one"
        raise UsageError(msg)
    target.mkdir(parents=True, exist_ok=True)
    return target
