"""`orch backups`: the backup refs of every repo of the fleet, and restoring one to a branch.

Per repo: one ``for-each-ref`` lists them; one ``diff-tree --stdin`` gives the
files of every work commit; one ``rev-list`` finds the commits no branch
reaches; then one ``rev-list`` per backup counts its commits beyond the
repo's default branch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.core.backups import Backup, find, parse_ref, restore_branch, split_files
from reconciler.core.errors import DriverError, SpecErrors, UsageError
from reconciler.core.model import Desired
from reconciler.drivers import git_backup
from reconciler.drivers.git import run_git
from reconciler.loop import desired_cache, engine
from reconciler.loop.state_store import StateStore


def load_for_backups(root: Path) -> tuple[Desired, str | None]:
    """The desired state whose repos hold the backups, and a warning when it is not current.

    Backups matter most when something went wrong: with invalid specs, the last
    valid desired state a reconcile remembered names the repos.
    """
    try:
        return engine.load(root, require_env=False), None
    except SpecErrors as err:
        remembered = desired_cache.last(root.resolve())
        if remembered is None:
            raise
        first = err.errors[0] if err.errors else "invalid"
        return remembered, f"specs invalid ({first}); the repos of the last valid specs are listed"


def fleet_repos(desired: Desired) -> dict[str, tuple[Path, str]]:
    """name -> (clone, default branch): the specs' repos, and those of known workers' state."""
    repos = {r.name: (r.local_path, r.default_branch) for r in desired.repos.values()}
    for state in StateStore(desired.state_dir, desired.config.fleet_name).load_all().values():
        if state.repo not in repos and state.repo_path:
            repos[state.repo] = (Path(state.repo_path), state.base)
    return {n: (p, b) for n, (p, b) in repos.items() if (p / ".git").exists() or p.is_dir()}


def repo_backups(name: str, path: Path, default: str, timeout: float) -> list[Backup]:
    """Every backup ref in one repo, newest first, with what each holds."""
    found = []
    for ref, commit, parents, subject in git_backup.backup_refs(path, timeout):
        parsed = parse_ref(ref)
        if parsed is None:
            continue
        heads = parents.split() if subject.startswith(git_backup.WORK_SUBJECT) else [commit]
        found.append(Backup(ref, name, parsed[0], parsed[1], commit, heads[0], tuple(heads[1:])))
    work = {b.commit: b.head for b in found if b.commit != b.head}
    files = git_backup.work_files(path, work, timeout)
    tips = sorted({h for b in found for h in (b.head, *b.extra)})
    orphans = set(git_backup.commits_beyond(path, tips, ["--branches"], timeout))
    out = []
    for b in found:
        changed, untracked = split_files(files.get(b.commit, []))
        try:
            ahead = git_backup.commits_beyond(path, [b.head, *b.extra], [default], timeout)
        except DriverError:  # the default branch is gone: count against every branch
            ahead = list(orphans)
        out.append(replace(b, changed=changed, untracked=untracked, commits=len(ahead),
                           unique=len(orphans.intersection(ahead))))  # fmt: skip
    return sorted(out, key=lambda b: (-(b.time or 0), b.ref))


def list_backups(desired: Desired, worker: str | None = None) -> list[Backup]:
    """The fleet's backups (of ``worker`` alone when given), newest first."""
    timeout = desired.config.git_timeout
    out = []
    for name, (path, default) in sorted(fleet_repos(desired).items()):
        out += [b for b in repo_backups(name, path, default, timeout)
                if worker is None or b.worker == worker]  # fmt: skip
    return sorted(out, key=lambda b: (-(b.time or 0), b.repo, b.ref))


def restore(desired: Desired, ref: str, to: str | None) -> tuple[Backup, str, Path]:
    """Make a new branch at the backup ``ref`` names; (backup, branch, repo path).

    The branch is ``to`` or a new ``restored/<worker>-<time>``; an existing
    branch is never moved. An unknown or ambiguous ref is a UsageError naming
    the backups there are.
    """
    repos = fleet_repos(desired)
    backups = list_backups(desired)
    matches = find(backups, ref)
    if len(matches) != 1:
        known = ", ".join(f"{b.repo}:{b.ref.removeprefix('refs/orch/backups/')}"
                          for b in backups) or "none"  # fmt: skip
        why = "is in several repos; prefix it with REPO:" if matches else "is not a backup"
        msg = f'"{ref}" {why}. Backups: {known}'
        raise UsageError(msg)
    backup = matches[0]
    path = repos[backup.repo][0]
    timeout = desired.config.git_timeout
    names = set(run_git(path, "for-each-ref", "--format=%(refname:short)", "refs/heads/",
                        timeout=timeout).splitlines())  # fmt: skip
    branch = to or restore_branch(backup, names)
    if branch in names:
        msg = f'branch "{branch}" exists in {path}; choose another with --to'
        raise UsageError(msg)
    try:
        git_backup.branch_from(path, branch, backup.commit, timeout)
    except DriverError as err:
        msg = f'cannot create branch "{branch}": {err.stderr or err}'
        raise UsageError(msg) from err
    return backup, branch, path
