"""Data shipped in the package, behind one accessor.

``scaffold/`` is the example control repo: `orch init` copies it, and its
``playbooks/prompts/restart.md.j2`` and ``reports/templates/status.md.j2`` are
the default templates a control repo without its own copy uses. The example
control repo at the top of the source tree links to these files, so there is
one copy of each. ``demo/`` is what `orch demo` sets up: a small app repo, a
control repo (``@name`` placeholders filled in on the way out) and the stub
API's script.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

# A stage's restart prompt when it names none: the control repo's file, else this one.
RESTART_TEMPLATE = "playbooks/prompts/restart.md.j2"
# The report's template: the control repo's file, else this one.
REPORT_TEMPLATE = "reports/templates/status.md.j2"


def scaffold() -> Traversable:
    """The example control repo's folder in the installed package."""
    return resources.files("reconciler").joinpath("data", "scaffold")


def demo() -> Traversable:
    """The demo's folder (``app/``, ``control/``, ``stub-script.json``) in the installed package."""
    return resources.files("reconciler").joinpath("data", "demo")


def packaged(rel: str) -> str:
    """The text of a file of the example control repo, e.g. a default template."""
    return scaffold().joinpath(rel).read_text()
