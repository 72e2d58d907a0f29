"""The package layout holds: contracts cover every module, modules stay small, lazy start-up."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import reconciler

PROJECT = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def _modules() -> list[str]:
    return ["reconciler"] + [
        info.name for info in pkgutil.walk_packages(reconciler.__path__, "reconciler.")
    ]


def _contract_roots() -> set[str]:
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    roots: set[str] = set()
    for contract in config["tool"]["importlinter"]["contracts"]:
        roots.update(contract.get("source_modules", []))
        for layer in contract.get("layers", []):  # "a | b" and "a : b" are siblings
            roots.update(part.strip() for part in layer.replace(":", "|").split("|"))
    return roots


def test_every_module_is_covered_by_an_import_contract() -> None:
    roots = _contract_roots()
    # The package root only holds __version__; everything below it is covered.
    uncovered = [
        m
        for m in _modules()
        if m != "reconciler"
        and not any(m == r or m.startswith(r + ".") for r in roots)
    ]
    assert uncovered == []


def test_the_layers_are_the_four_folders() -> None:
    assert {m for m in _modules() if m.count(".") == 1 and not m.endswith("__main__")} == {
        "reconciler.core",
        "reconciler.loop",
        "reconciler.drivers",
        "reconciler.cli",
        "reconciler.mcp_server",
        "reconciler.spec",
        "reconciler.data",
        "reconciler.stubapi",
    }


def test_no_module_is_larger_than_400_lines() -> None:
    sizes = {
        str(path.relative_to(PROJECT)): len(path.read_text().splitlines())
        for path in (PROJECT / "reconciler").rglob("*.py")
    }
    assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}


def test_the_cli_imports_no_driver_or_loop_module_at_start_up() -> None:
    code = (
        "import sys, reconciler.cli.app\n"
        "heavy = ('reconciler.loop', 'reconciler.drivers', 'reconciler.mcp_server', 'libtmux',"
        " 'git', 'watchdog', 'jinja2', 'jsonschema', 'yaml', 'mcp', 'mcp_types', 'pydantic')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy"
        " or m.startswith(heavy[:3])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
