"""Before a worktree is removed, keep what git alone would not: the teardown archive.

``state/archive/<worker>/<time>/`` receives the worktree's ``.orch/`` folder
(progress notes, signals, hook events), its git-ignored files (an agent's
``notes.log``) except the rebuildable folders of ``teardown.skipIgnored``
(listed, not copied), and a bundle of every git repository nested in it (the
worktree's own backup holds only a gitlink to their commits).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from reconciler.drivers import git_backup


def archive_dir(state_dir: Path, worker: str, now: float) -> Path:
    """A new, empty ``state/archive/<worker>/<UTC time>[-n]`` folder."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    base = state_dir / "archive" / worker
    base.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        folder = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    msg = f"no free archive folder under {base}"
    raise FileExistsError(msg)


def _skipped(rel: str, skip: tuple[str, ...]) -> bool:
    """Whether an ignored path is (inside) a folder named in ``skip`` (``node_modules/``)."""
    parts = rel.rstrip("/").split("/")
    names = {s.rstrip("/") for s in skip}
    return any(part in names for part in parts)


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest, follow_symlinks=False)


def save_files(
    worktree: Path, folder: Path, skip: tuple[str, ...], timeout: float
) -> dict[str, object]:
    """Copy ``.orch/``, ignored files and nested repositories of ``worktree`` into ``folder``.

    Returns what was kept and what was skipped, for the teardown event.
    """
    detail: dict[str, object] = {"archive": str(folder)}
    if (worktree / ".orch").is_dir():
        _copy(worktree / ".orch", folder / "orch")
    nested = git_backup.nested_repos(worktree, timeout)
    copied, skipped = [], []
    for rel in git_backup.ignored_paths(worktree, timeout):
        if rel.rstrip("/") == ".orch" or any(rel.startswith(n + "/") for n in nested):
            continue
        if _skipped(rel, skip):
            skipped.append(rel)
            continue
        _copy(worktree / rel.rstrip("/"), folder / "ignored" / rel.rstrip("/"))
        copied.append(rel)
    bundles = []
    for rel in nested:
        dest = folder / "nested" / (rel.replace("/", "__") + ".bundle")
        if git_backup.bundle_repo(worktree / rel, dest, f"orch: teardown of {rel}", timeout):
            bundles.append(rel)
        else:  # no commit to bundle: keep its files as they are
            _copy(worktree / rel, folder / "nested" / rel.replace("/", "__"))
    if copied:
        detail["ignored"] = copied
    if skipped:
        detail["skippedIgnored"] = skipped
    if bundles:
        detail["bundles"] = bundles
    return detail
