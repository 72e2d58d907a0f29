"""`orch items from-gh|from-glab`: run the tracker's CLI once, return the items file's text."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core import tracker_items
from reconciler.core.errors import UsageError
from reconciler.drivers import forge

_INSTALL = {
    "gh": "install GitHub's CLI (https://cli.github.com) and run `gh auth login`",
    "glab": "install GitLab's CLI (https://gitlab.com/gitlab-org/cli) and run `glab auth login`",
}


def fetch_items(
    tool: str, where: str, labels: Sequence[str], milestone: str | None, limit: int
) -> str:
    """The items file for ``where`` (a GitHub OWNER/NAME or a GitLab project) as YAML text."""
    if tool not in forge.available():
        msg = f"{tool} is not on PATH: {_INSTALL[tool]}"
        raise UsageError(msg)
    if tool == "gh":
        argv = tracker_items.gh_argv(where, labels, milestone, limit)
        items = tracker_items.items_from_gh(forge.run_cli(argv))
    else:
        argv = tracker_items.glab_argv(where, labels, milestone, limit)
        items = tracker_items.items_from_glab(forge.run_cli(argv))
    return tracker_items.items_yaml(items, where)
