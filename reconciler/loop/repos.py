"""Every Repo of the specs at a glance, and fast-forwarding the clean ones.

Each repo costs one ``git status --porcelain=v2 --branch``, plus one ``git log
-1`` when its HEAD is a commit not seen before (commits never change: the
last one of each repo is kept in ``state/repo-commits.json``); the repos are
read at once in a thread pool, so twenty take about as long as the slowest.
A Repo given by ``url`` lives where the loop clones it (``clones/<name>``,
:func:`reconciler.spec.build.build_repo`); until a worker needs it, its row
says it is not cloned yet, and `orch repos pull` clones it. A missing or
broken repo is a row with an error, never a crash.

These are the functions the CLI calls (and an MCP server may call).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from reconciler.core.errors import DriverError
from reconciler.core.git_status import (
    LOG_ARGS,
    STATUS_ARGS,
    LastCommit,
    parse_last_commit,
    parse_status,
)
from reconciler.core.model import Desired, Repo
from reconciler.core.repo_rows import PullResult, RepoRow, pull_verdict, select_repos
from reconciler.drivers import repo_git, shell
from reconciler.loop.state_store import write_atomic

T = TypeVar("T")
R = TypeVar("R")
MAX_THREADS = 16
COMMITS_FILE = "repo-commits.json"  # state/: commit id -> [committer time, subject]


def load_specs(root: Path) -> Desired:
    """The specs as `orch repos` and `orch run` read them: no Agent secret is needed, and a
    Repo whose path is missing is kept (its row, or its run, says so) instead of refused.

    The specs a reconcile remembered are used when nothing changed since, as
    `orch status` does; the loop's engine is not imported (start-up time).
    """
    from reconciler.loop import desired_cache

    cached = desired_cache.read(root.resolve(), os.environ)
    if cached is not None:
        return cached
    from reconciler.spec.validate import load_desired  # jsonschema, yaml: only when needed

    return load_desired(root, os.environ, require_env=False, require_repos=False)


def parallel(fn: Callable[[T], R], items: Sequence[T], threads: int = MAX_THREADS) -> list[R]:
    """``[fn(item) for item in items]``, run in a thread pool; results in the same order."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(items)))) as pool:
        return list(pool.map(fn, items))


def repo_rows(desired: Desired, names: Iterable[str] = ()) -> list[RepoRow]:
    """One row per Repo (the ``names`` given, or all in spec order), read in parallel.

    Each row has the branch checked out, the counts of staged, unstaged and
    untracked paths, ahead/behind the upstream (as of the last fetch: nothing
    is fetched), the last commit, and how many orch worktrees and Workers the
    repo has. A repo that is missing, not cloned yet or broken gets ``error``.

    Raises
    ------
    UsageError
        When a name is not a Repo of the specs.
    """
    repos = select_repos(desired.repos, names)
    timeout = desired.config.git_timeout
    known = _read_commits(desired.state_dir)
    rows = parallel(lambda repo: _row(desired, repo, timeout, known), repos)
    _write_commits(desired.state_dir, known, rows)
    return rows


def _read_commits(state_dir: Path) -> dict[str, LastCommit]:
    """The commits read before, by id (a commit never changes): no ``git log`` for them."""
    try:
        data = json.loads((state_dir / COMMITS_FILE).read_text())
        return {oid: LastCommit(oid, float(t), str(subject)) for oid, (t, subject) in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _write_commits(state_dir: Path, known: dict[str, LastCommit], rows: list[RepoRow]) -> None:
    """Keep the last commit of each row (only those: the file stays one entry a repo)."""
    now = {row.last_commit.sha: row.last_commit for row in rows if row.last_commit}
    if set(now) == set(known):
        return
    with contextlib.suppress(OSError):  # a cache: a read-only state/ only costs a git call
        text = json.dumps({oid: [c.time, c.subject] for oid, c in sorted(now.items())})
        write_atomic(state_dir / COMMITS_FILE, text + "\n")


def _row(desired: Desired, repo: Repo, timeout: float, known: Mapping[str, LastCommit]) -> RepoRow:
    path = repo.local_path
    base = RepoRow(
        name=repo.name,
        path=str(path),
        url=repo.url,
        worktrees=_orch_worktrees(desired, repo),
        workers=sum(w.repo == repo.name for w in desired.workers.values()),
    )
    missing = missing_reason(repo)
    if missing:
        return replace(base, error=missing)
    try:
        status = parse_status(repo_git.git_output(path, STATUS_ARGS, timeout))
        last = known.get(status.oid or "")
        if status.oid and last is None:
            last = parse_last_commit(repo_git.git_output(path, LOG_ARGS, timeout))
    except (DriverError, ValueError) as err:
        return replace(base, error=str(err))
    return replace(base, status=status, last_commit=last)


def missing_reason(repo: Repo) -> str | None:
    """Why ``repo`` has no folder on disk (missing, or a url Repo not cloned yet), or None."""
    path = repo.local_path
    if path.exists():
        return None
    if repo.url:
        return f"not cloned yet (orch clones {repo.url} into {path} for its first worker)"
    return f"path {path} does not exist"


def _orch_worktrees(desired: Desired, repo: Repo) -> int:
    """Worktrees orch made of ``repo``: folders with a ``.git`` in <worktrees.root>/<repo>/."""
    folder = desired.root / desired.config.worktrees_root / repo.name
    try:
        return sum((child / ".git").exists() for child in folder.iterdir() if child.is_dir())
    except OSError:  # no worktree yet (or unreadable: nothing to count)
        return 0


def pull_repos(desired: Desired, names: Iterable[str] = ()) -> list[PullResult]:
    """Fast-forward each clean repo (``names``, or all) to its upstream, in parallel.

    A dirty repo (anything staged, unstaged, untracked or in conflict) is not
    even fetched; one that diverged from its upstream is fetched but not
    moved; a detached HEAD or a branch without upstream is skipped. A Repo
    given by ``url`` and not cloned yet is cloned. Nothing else is changed.

    Raises
    ------
    UsageError
        When a name is not a Repo of the specs.
    """
    repos = select_repos(desired.repos, names)
    cfg = desired.config
    return parallel(lambda repo: _pull(repo, cfg.git_timeout, cfg.network_timeout), repos)


def _pull(repo: Repo, timeout: float, network: float) -> PullResult:
    path = repo.local_path
    try:
        if repo.url and not path.exists():
            shell.clone(repo.url, path)
            return PullResult(repo.name, "cloned", f"from {repo.url}", after=_head(path, timeout))
        missing = missing_reason(repo)
        if missing:
            return PullResult(repo.name, "error", missing)
        status = parse_status(repo_git.git_output(path, STATUS_ARGS, timeout))
        verdict = pull_verdict(status, fetched=False)
        if verdict.action == "fetch":
            repo_git.fetch(path, network)
            status = parse_status(repo_git.git_output(path, STATUS_ARGS, timeout))
            verdict = pull_verdict(status, fetched=True)
        if verdict.action != "fast-forward":
            return PullResult(repo.name, verdict.action, verdict.reason, status.oid, status.oid)
        repo_git.fast_forward(path, timeout)
        return PullResult(repo.name, "updated", verdict.reason, status.oid, _head(path, timeout))
    except (DriverError, ValueError) as err:
        return PullResult(repo.name, "error", str(err))


def _head(path: Path, timeout: float) -> str | None:
    out = repo_git.git_output(path, ["rev-parse", "--verify", "-q", "HEAD"], timeout).strip()
    return out or None
