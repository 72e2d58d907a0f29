"""The worktree actions of a pass: clone a repo, make a worktree, move its base, remove it.

Making a worktree checks whose branch it is first (:mod:`reconciler.core.branches`);
removing one saves everything it held first (a backup ref that reaches its
HEAD, its reflog's lost commits and its uncommitted and untracked work, and
the archive of :mod:`reconciler.loop.archive`): nothing is deleted unsaved.
A worktree git never finished making (``git worktree add`` killed half-way:
no HEAD, or files missing) is moved aside whole into the archive, never used.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.branches import BranchFacts, refusal
from reconciler.core.errors import DriverError, Refused
from reconciler.core.model import Repo, WorkerState
from reconciler.drivers import git_backup, shell
from reconciler.loop import archive
from reconciler.loop.pass_context import Handler, PassContext, RepoPrep
from reconciler.loop.start_agent import write_owner


def _clone_repo(ap: PassContext, action: Action) -> dict[str, object]:
    repo = ap.desired.repos[action.repo or ap.worker(action.worker).repo]
    if not repo.local_path.exists():
        assert repo.url is not None
        shell.clone(repo.url, repo.local_path)
    return {"path": str(repo.local_path)}


def _prepare(ap: PassContext, repo: Repo) -> RepoPrep:
    """Once per repo and pass: exclude .orch/, prune, judge and create every new branch.

    The branches of all this pass's new worktrees in ``repo`` are created in one
    transaction (with their ownership marks): two git calls, not two per worker.
    """
    git = ap.git(repo.local_path)
    fleet = ap.desired.config.fleet_name
    git.ensure_exclude(".orch/")
    git.worktree_prune()  # a folder deleted by hand is registered no more
    names, owners = git.branch_facts()
    listed = ap.observed.worktrees.get(str(repo.local_path), ())
    prep, new = RepoPrep(), {}
    for action in ap.pass_actions:
        w = ap.desired.workers.get(action.worker)
        if action.verb is not Verb.CREATE_WORKTREE or w is None or w.repo != repo.name:
            continue
        path = ap.desired.worktree_path(w)
        elsewhere = next((e.path for e in listed if e.branch == w.branch), None)
        facts = BranchFacts(w.branch, w.base, repo.default_branch, w.branch in names,
                            owners.get(w.branch), elsewhere)  # fmt: skip
        why = refusal(facts, fleet=fleet, worktree=str(path), adopt=w.adopt_branch)
        prep.verdicts[w.name] = why
        if why is None and w.branch not in names and not (path / ".git").exists():
            new[w.branch] = w.base
    try:
        if new:
            git.create_branches(new, fleet)
    except DriverError:
        prep.lazy = set(new)  # one of them is bad: each makes its own, and its own error
    ap.branches[repo.name] = prep
    return prep


def _create_worktree(ap: PassContext, action: Action) -> dict[str, object]:
    w = ap.worker(action.worker)
    repo = ap.desired.repos[w.repo]
    path = ap.desired.worktree_path(w)
    git = ap.git(repo.local_path)
    fleet = ap.desired.config.fleet_name
    prep = ap.branches.get(repo.name) or _prepare(ap, repo)
    detail: dict[str, object] = {"path": str(path)}
    if _unfinished(ap, action.worker):
        detail["setAside"] = _set_aside(ap, path, action.worker)
    if not (path / ".git").exists():
        why = prep.verdicts.get(w.name)
        if why:
            raise Refused(why)
        if w.branch in prep.lazy:
            git.create_branches({w.branch: w.base}, fleet)
            prep.lazy.discard(w.branch)
        git.checkout_worktree(path, w.branch)
    write_owner(path, w, fleet)
    ap.save(
        WorkerState(
            name=w.name,
            fleet=ap.desired.config.fleet_name,
            repo=w.repo,
            repo_path=str(repo.local_path),
            branch=w.branch,
            base=w.base,
            worktree=str(path),
            placement_hash=w.placement_hash,
            run_hashes=dict(w.run_hashes),
            phase=Phase.PROVISIONING.value,
            reason=action.reason,
            created_at=ap.clock(),
        )
    )
    return detail


def _unfinished(ap: PassContext, worker: str) -> bool:
    files = ap.observed.files.get(worker)
    return bool(files and files.unfinished)


def _set_aside(ap: PassContext, path: Path, worker: str) -> str:
    """Move a half-made worktree whole into the archive and unregister it; the archive path."""
    repo = ap.repo_path(worker, path)
    git = ap.git(repo)
    git.worktree_unlock(path)
    folder = archive.archive_dir(ap.desired.state_dir, worker, ap.clock()) / "unfinished-worktree"
    if path.exists():
        shutil.move(path, folder)
    git.worktree_prune()  # its registration points at nothing now
    return str(folder)


def _remove_worktree(ap: PassContext, action: Action) -> dict[str, object]:
    """Save everything the worktree holds (backup ref, archive), then remove it.

    Any failure while saving raises before the removal: nothing is deleted unsaved.
    """
    path = ap.worktree(action.worker)
    git = ap.git(ap.repo_path(action.worker, path))
    cfg = ap.desired.config
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ap.clock()))
    detail: dict[str, object] = {}
    if _unfinished(ap, action.worker):  # no HEAD to back up: the folder itself is kept
        return {"setAside": _set_aside(ap, path, action.worker)}
    if (path / ".git").exists():
        ref, _ = git_backup.backup_worktree(
            path,
            f"refs/orch/backups/{action.worker}/{stamp}",
            f"orch: backup of {action.worker}: {action.reason}",
            cfg.git_timeout,
        )
        detail["backup"] = ref
        folder = archive.archive_dir(ap.desired.state_dir, action.worker, ap.clock())
        detail.update(archive.save_files(path, folder, cfg.skip_ignored, cfg.git_timeout))
    git.worktree_remove(path)
    return detail


def _move_base(ap: PassContext, action: Action) -> dict[str, object]:
    """The base alone changed and the branch has no commits of its own: move it there."""
    w = ap.worker(action.worker)
    path = ap.worktree(w.name)
    ap.git(ap.repo_path(w.name, path)).move_branch(path, w.base)
    state = ap.state(w.name)
    ap.save(replace(state, base=w.base, placement_hash=w.placement_hash))
    return {"base": w.base}


WORKTREE_HANDLERS: dict[Verb, Handler] = {
    Verb.CLONE_REPO: _clone_repo,
    Verb.CREATE_WORKTREE: _create_worktree,
    Verb.MOVE_BASE: _move_base,
    Verb.REMOVE_WORKTREE: _remove_worktree,
}
