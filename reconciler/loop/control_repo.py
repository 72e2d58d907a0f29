"""What the control repo's git says about the specs: their source, pending edits, pulls.

With ``reconcile.source: committed`` only what is committed on the current
branch counts: specs and config are read at HEAD (two git calls), the
desired-state cache and the watcher key on HEAD's commit, and edits not yet
committed are pending (``orch status`` lists them). With ``worktree`` (the
default) the saved files count, as they always did.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.core.errors import DriverError, OrchError
from reconciler.core.model import CONFIG_FILE
from reconciler.drivers import gitops

COMMITTED = "committed"
SPEC_PATHS = ("specs", "config")


class NoCommit(OrchError):
    """reconcile.source is committed but the control repo has nothing committed to read."""


def is_committed(root: Path) -> bool:
    """Whether ``reconcile.source`` (in the saved config/orch.yaml) is committed.

    A file that never spells "committed" cannot say so, and is not parsed:
    every command asks, and parsing imports YAML (~9 ms of `orch status`).
    """
    try:
        if COMMITTED.encode() not in (root / CONFIG_FILE).read_bytes():
            return False
    except OSError:
        return False
    from reconciler.spec.config import reconcile_source

    return reconcile_source(root) == COMMITTED


def source_stamp(root: Path) -> str:
    """``worktree``, or ``committed:<HEAD>``: what the specs are read from right now."""
    if not is_committed(root):
        return "worktree"
    try:
        return f"{COMMITTED}:{gitops.head_commit(root)}"
    except DriverError as err:
        raise NoCommit(_no_commit(root, err)) from err


def committed_specs(root: Path) -> dict[str, bytes] | None:
    """The spec and config files at HEAD when reconcile.source is committed, else None."""
    if not is_committed(root):
        return None
    try:
        return gitops.committed_files(root, SPEC_PATHS)
    except DriverError as err:
        raise NoCommit(_no_commit(root, err)) from err


def _no_commit(root: Path, err: DriverError) -> str:
    return (f"reconcile.source is committed, but {root} has no commit to read the specs "
            f"from ({err}); commit them, or set reconcile.source: worktree")  # fmt: skip


def pending_edits(root: Path) -> list[str]:
    """Spec and config files whose saved content is not what counts (committed source only)."""
    if not is_committed(root):
        return []
    try:
        return gitops.dirty(root, SPEC_PATHS)
    except DriverError:
        return []


def commit_folders(root: Path) -> list[tuple[str, bool]]:
    """(folder, recursive) a watcher follows to see commits: HEAD's folder and the refs."""
    try:
        git_dir, common = gitops.git_dirs(root)
    except DriverError:
        return []
    found = {(str(git_dir), False), (str(common), False), (str(common / "refs"), True)}
    return sorted(f for f in found if Path(f[0]).is_dir())


def is_ref_change(path: str) -> bool:
    """Whether a file event under .git/ moves HEAD or a ref (not the index, objects, locks).

    Examples
    --------
    >>> [is_ref_change(p) for p in ("/r/.git/HEAD", "/r/.git/refs/heads/main", "/r/.git/index")]
    [True, True, False]
    >>> is_ref_change("/r/.git/refs/heads/main.lock")
    False
    """
    name = Path(path).name
    if name.endswith(".lock"):
        return False
    return name in ("HEAD", "packed-refs") or "/refs/" in path


def pull_once(root: Path) -> list[str]:
    """One GitOps pull: fetch, then fast-forward unless specs/ or config/ have local edits."""
    try:
        gitops.fetch(root)
        local = gitops.dirty(root)
        if local:
            files = ", ".join(local[:5])
            return [f"warning: pull skipped: uncommitted changes in {files}; staying put"]
        moved = gitops.fast_forward(root)
    except OrchError as err:
        return [f"warning: pull failed, staying at the current revision: {err}"]
    if moved is None:
        return []
    return [f"pulled {moved[0][:7]}..{moved[1][:7]}"]
