"""Write a run report per worker (reports/workers/<name>.md) beside the fleet report.

Git facts (commits since base, diff --stat) cost two git calls a worker, so
they are asked only for a worker whose branch tip (or base) moved since the
last render: one ``git for-each-ref`` per repo finds the tips, and
state/run_reports.json keeps the facts of the rest. A pass over 100 workers
whose branches did not move runs one git process per repo.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.agent_command import SIGNALS_DIR
from reconciler.core.errors import DriverError
from reconciler.core.model import Desired, Worker
from reconciler.core.report import without_generated
from reconciler.core.run_report import MAX_COMMITS, GitFacts, RunInput, render_run_report
from reconciler.data import packaged
from reconciler.drivers.git import run_git
from reconciler.loop.events import read_events
from reconciler.loop.secrets import mask
from reconciler.loop.state_store import write_atomic

TEMPLATE = "reports/templates/worker.md.j2"
FOLDER = "workers"
CACHE = "run_reports.json"
MAX_EVENTS = 100_000  # events.jsonl lines read per render (it rotates at 10 MB)
MAX_SUMMARY = 4000


@dataclass
class RunReports:
    """What one render of the run reports did."""

    # every run report: as rendered, or the file's text when only its Generated line differs
    texts: dict[Path, str] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)  # those whose content changed
    git_refreshed: list[str] = field(default_factory=list)  # workers whose git facts were read


def template(root: Path) -> str:
    """The control repo's reports/templates/worker.md.j2, else the packaged one."""
    custom = root / TEMPLATE
    return custom.read_text() if custom.is_file() else packaged(TEMPLATE)


def write_run_reports(
    desired: Desired,
    rows: Sequence[Mapping[str, Any]],
    states: Mapping[str, Any],
    folder: Path,
    now: float,
    *,
    write: bool = True,
) -> RunReports:
    """Render every desired worker's run report into ``folder``; write those that changed.

    ``write`` False renders only (``written`` then names those that would be
    written): the watcher writes a work tree's files only when it commits them.
    """
    out = RunReports()
    workers = [desired.workers[str(r["name"])] for r in rows if str(r["name"]) in desired.workers]
    facts, out.git_refreshed = git_facts(desired, workers)
    events: dict[str, list[dict[str, Any]]] = {}
    for e in read_events(desired.state_dir, MAX_EVENTS):
        events.setdefault(str(e.get("worker") or ""), []).append(e)
    text_of = template(desired.root)
    fleet = os.path.relpath(folder.parent, folder)
    for row in rows:
        worker = desired.workers.get(str(row["name"]))
        if worker is None:
            continue
        state = states.get(worker.name)
        src = RunInput(
            row=row,
            events=events.get(worker.name, []),
            costs=dict(state.costs) if state else {},
            git=facts.get(worker.name, GitFacts()),
            generated=now,
            summary=_last_summary(row.get("worktree")),
            base=worker.base,
            fleet_report=f"{fleet}/status.md" if fleet != "." else "status.md",
        )
        path = folder / f"{worker.name}.md"
        text = mask(render_run_report(text_of, src))
        old = path.read_text() if path.exists() else None
        if old is not None and without_generated(old) == without_generated(text):
            out.texts[path] = old  # the same bytes again: no churn in a report commit
            continue
        out.texts[path] = text
        out.written.append(path)
        if write:
            write_atomic(path, text)
    return out


def git_facts(desired: Desired, workers: list[Worker]) -> tuple[dict[str, GitFacts], list[str]]:
    """Each worker's git facts, from the cache while its tip and base stay, else from git;
    and the workers git was asked about."""
    refreshed: list[str] = []
    cache_file = desired.state_dir / CACHE
    cache = _read_cache(cache_file)
    facts: dict[str, GitFacts] = {}
    by_repo: dict[str, list[Worker]] = {}
    for w in workers:
        by_repo.setdefault(w.repo, []).append(w)
    timeout = desired.config.git_timeout
    for repo_name, members in by_repo.items():
        repo = desired.repos[repo_name].local_path
        try:
            refs = _tips(repo, timeout)
        except DriverError:
            continue  # a repo not cloned yet: no facts, the report says none
        for w in members:
            tip = refs.get(w.branch)
            key = f"{tip}:{refs.get(w.base, w.base)}"
            cached = cache.get(w.name)
            if cached and cached.get("key") == key:
                facts[w.name] = _from_cache(cached)
                continue
            facts[w.name] = _read_facts(repo, w, tip, timeout)
            cache[w.name] = {"key": key, **asdict(facts[w.name])}
            refreshed.append(w.name)
    if refreshed:
        write_atomic(cache_file, json.dumps(cache, indent=1, sort_keys=True))
    return facts, refreshed


def _from_cache(cached: Mapping[str, Any]) -> GitFacts:
    commits = tuple(str(c) for c in cached.get("commits", ()))
    count = cached.get("count")
    return GitFacts(
        tip=cached.get("tip"),
        commits=commits,
        diff_stat=str(cached.get("diff_stat", "")),
        count=count if isinstance(count, int) else None,
        error=str(cached.get("error", "")),
    )


def _tips(repo: Path, timeout: float) -> dict[str, str]:
    """Short ref name -> commit, for every branch and remote branch (one git call)."""
    text = run_git(repo, "for-each-ref", "--format=%(objectname) %(refname:short)",
                   "refs/heads", "refs/remotes", timeout=timeout)  # fmt: skip
    pairs = (line.split(" ", 1) for line in text.splitlines() if " " in line)
    return {name: sha for sha, name in pairs}


def _read_facts(repo: Path, w: Worker, tip: str | None, timeout: float) -> GitFacts:
    if tip is None:
        return GitFacts()
    try:
        log = run_git(repo, "log", "--oneline", "--no-decorate", f"{w.base}..{tip}",
                      timeout=timeout)  # fmt: skip
        stat = run_git(repo, "diff", "--stat", f"{w.base}...{tip}", timeout=timeout)
    except DriverError as err:
        return GitFacts(tip, error=str(err))
    lines = log.splitlines()
    return GitFacts(tip, tuple(lines[:MAX_COMMITS]), stat, len(lines))


def _read_cache(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _last_summary(worktree: object) -> str:
    """The summary of the newest stage signal in the worktree (JSON {"summary": ...} or text)."""
    if not isinstance(worktree, str):
        return ""
    try:
        entries = [e for e in os.scandir(Path(worktree) / SIGNALS_DIR)
                   if e.name.endswith((".done", ".failed"))]  # fmt: skip
        if not entries:
            return ""
        newest = max(entries, key=lambda e: e.stat().st_mtime)
        body = Path(newest.path).read_bytes()[:MAX_SUMMARY].decode("utf-8", "replace").strip()
    except OSError:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return str(data["summary"]) if isinstance(data, dict) and "summary" in data else body


def report_text(desired: Desired, row: Mapping[str, Any], state: Any, now: float) -> str:
    """One worker's run report as it stands (the default body of its pull request)."""
    worker = desired.workers[str(row["name"])]
    repo = desired.repos[worker.repo].local_path
    timeout = desired.config.git_timeout
    try:
        tip = run_git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{worker.branch}",
                      timeout=timeout)  # fmt: skip
    except DriverError:
        tip = ""
    events = read_events(desired.state_dir, MAX_EVENTS)
    events = [e for e in events if e.get("worker") == worker.name]
    src = RunInput(
        row=row,
        events=events,
        costs=dict(state.costs) if state else {},
        git=_read_facts(repo, worker, tip or None, timeout),
        generated=now,
        summary=_last_summary(row.get("worktree")),
        base=worker.base,
    )
    return mask(render_run_report(template(desired.root), src))
