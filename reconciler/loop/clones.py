"""Clones of ``url`` Repos moved out of state/ to ``clones/`` (where they now live).

Earlier versions cloned into ``state/repos/<name>``, a folder people delete to
start afresh; the clone holds the workers' branches and backup refs, so each
pass moves one found there to ``clones/<name>`` (its worktrees reconnected)
before anything looks at it: it is never cloned again with its branches lost.
"""

from __future__ import annotations

from reconciler.core.errors import DriverError
from reconciler.core.model import Desired
from reconciler.drivers import shell
from reconciler.loop.events import Event

LEGACY_DIR = "repos"  # state/repos/<name>: where url Repos used to be cloned


def migrate(desired: Desired, now: float) -> list[Event]:
    """Move every clone still at ``state/repos/<name>`` to its place; one event each."""
    events = []
    for repo in desired.repos.values():
        old = desired.state_dir / LEGACY_DIR / repo.name
        new = repo.local_path
        if not repo.url or new.exists() or not (old / ".git").exists():
            continue
        try:
            linked = shell.move_clone(old, new, desired.config.git_timeout)
        except (DriverError, OSError) as err:
            events.append(Event(now, "", "move-clone", f"repo {repo.name}: {old} -> {new}",
                                ok=False, error=str(err)))  # fmt: skip
            continue
        detail = {"from": str(old), "to": str(new), "worktrees": len(linked)}
        why = f"repo {repo.name}: out of state/"
        events.append(Event(now, "", "move-clone", why, detail=detail))
    return events
