"""The commit the specs come from and their uncommitted changes, remembered between commands.

`orch status` names the last commit touching specs/ or config/ and whether
they have uncommitted changes: two git calls, and GitPython's import, about a
tenth of a status over a large fleet. A reconcile remembers the answer in
state/revision.json with the stamps (path, mtime, size) of everything git's
answer depends on: HEAD and the branch it names, packed-refs, the index,
.git/config, info/exclude, the root .gitignore, and every file under specs/ and
config/. Commands that only read use it while every stamp is the same, else ask
git. A stamp younger than RACY_NS is never remembered: an edit within the
clock's tick keeps the mtime. A control repo whose ``.git`` is not a folder is
always asked.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from reconciler.core.errors import DriverError
from reconciler.loop import control_repo
from reconciler.loop.desired_cache import fingerprint
from reconciler.loop.state_store import write_atomic

MEMO_FILE = "revision.json"
RACY_NS = 2_000_000_000
_GIT_FILES = ("HEAD", "packed-refs", "index", "config", "info/exclude")


def revision_info(root: Path) -> dict[str, object]:
    """The commit the specs come from, whether specs/ or config/ have local changes, and
    (``reconcile.source: committed``) the edited files not applied: ``pendingSpecs``.

    Asks git every time; :func:`remembered` answers from the memo when it can.
    """
    from reconciler.drivers import gitops

    try:
        rev = gitops.revision(root)
        dirty = gitops.dirty(root)
    except DriverError:
        return {"revision": None, "specsDirty": None, "pendingSpecs": []}
    revision = {"sha": rev[0], "subject": rev[1]} if rev else None
    pending = dirty if control_repo.is_committed(root) else []
    return {"revision": revision, "specsDirty": bool(dirty), "pendingSpecs": pending}


def depends_on(root: Path, now_ns: int | None = None) -> list[Any] | None:
    """The stamps git's answer depends on; None when they cannot be trusted (a young
    stamp, an unreadable HEAD, ``.git`` not a folder)."""
    git_dir = root / ".git"
    try:
        head = (git_dir / "HEAD").read_text()
    except OSError:
        return None
    paths = [git_dir / name for name in _GIT_FILES] + [root / ".gitignore"]
    if head.startswith("ref: "):
        paths.append(git_dir / head[5:].strip())
    stamps = [*map(_stamp, paths), *fingerprint(root)]
    now_ns = time.time_ns() if now_ns is None else now_ns
    if max(mtime for _, mtime, _ in stamps) > now_ns - RACY_NS:
        return None
    return [head, *stamps]


def _stamp(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), st.st_mtime_ns, st.st_size)


def remembered(root: Path, state_dir: Path) -> dict[str, object]:
    """:func:`revision_info` from the memo when nothing it depends on changed, else from git."""
    deps = depends_on(root)
    memo = _memo(state_dir, deps) if deps is not None else None
    return memo if memo is not None else revision_info(root)


def _memo(state_dir: Path, deps: list[Any]) -> dict[str, object] | None:
    """The memo's answer, if it was made under exactly ``deps``."""
    try:
        memo = json.loads((state_dir / MEMO_FILE).read_bytes())
        if memo["depends"] == json.loads(json.dumps(deps)):  # JSON has no tuples
            return dict(memo["info"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def remember(root: Path, state_dir: Path) -> None:
    """Ask git again when what the memo depends on changed, and keep the answer.

    The stamps are taken before git runs and again after: a change while it
    runs keeps the old memo (asked again next time), never a wrong one. I/O
    errors skip the memo silently.
    """
    deps = depends_on(root)
    if deps is None:
        return
    if _memo(state_dir, deps) is not None:
        return
    info = revision_info(root)
    if depends_on(root) != deps:  # something moved while git ran: next time
        return
    try:
        write_atomic(state_dir / MEMO_FILE, json.dumps({"depends": deps, "info": info}))
    except OSError:
        return
