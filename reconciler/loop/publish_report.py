"""Write the status report and commit it to git (the imperative half of reports).

The run reports (``workers/<name>.md`` beside the report, from
:mod:`reconciler.loop.run_reports`) go along: written and committed with it.
A report is written only when its content changed (ignoring its "Generated"
line) and committed only when it differs from the last committed one. Where:
with ``reports.branch`` null, on the checked-out branch (the file in the work
tree, then a plumbing commit of exactly those bytes; never while HEAD is
detached or a merge or rebase is in progress: the report waits; the watcher
writes the file only to commit it, so it never shows as modified); else on a
branch of orch's own, never checked out, the local copy kept under state/.
When the watcher commits is decided in :mod:`reconciler.core.report_cadence`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.errors import UsageError
from reconciler.core.model import Desired
from reconciler.core.report import ReportInput, commit_message, render_report, without_generated
from reconciler.core.report_cadence import digest
from reconciler.core.rows import status_rows
from reconciler.data import REPORT_TEMPLATE as TEMPLATE
from reconciler.data import packaged
from reconciler.drivers import gitops
from reconciler.loop.engine import PassResult, host_name
from reconciler.loop.events import read_events
from reconciler.loop.logs import tail_lines
from reconciler.loop.report_memory import read_memory, save_memory
from reconciler.loop.run_reports import FOLDER, git_facts, write_run_reports
from reconciler.loop.secrets import mask
from reconciler.loop.spec_revision import revision_info
from reconciler.loop.state_store import write_atomic


@dataclass(frozen=True)
class ReportResult:
    """What `orch report` did."""

    path: Path
    changed: bool
    commit: str | None
    note: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "path": str(self.path),
            "changed": self.changed,
            "commit": self.commit,
            "note": self.note,
        }


def report_rel(desired: Desired) -> str:
    """reports.path, with ``{host}`` replaced by this reconciler's host name."""
    return desired.config.reports_path.replace("{host}", host_name(desired))


def report_path(desired: Desired) -> Path:
    """Where the report is written locally: the work tree, or state/ with reports.branch.

    A branch of orch's own is never checked out and its files never enter the
    work tree: the local copy then lives under state/ (git-ignored).
    """
    base = desired.root if desired.config.reports_branch is None else desired.state_dir
    return base / report_rel(desired)


def _template(root: Path) -> str:
    custom = root / TEMPLATE
    if custom.is_file():
        return custom.read_text()
    return packaged(TEMPLATE)


def _ahead(desired: Desired, rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """Commits beyond base a worker: the run reports' git facts (cached by branch tip)."""
    workers = [desired.workers[str(r["name"])] for r in rows if str(r["name"]) in desired.workers]
    facts, _ = git_facts(desired, workers)
    out: dict[str, int | None] = {}
    for w in workers:
        got = facts.get(w.name)
        out[w.name] = got.total if got and got.tip and not got.error else None
    return out


def _log_tails(rows: list[dict[str, Any]], root: Path) -> dict[str, str]:
    from reconciler.core.summary import strip_ansi
    from reconciler.loop.logs import current_log

    tails = {}
    for row in rows:
        if row["phase"] != "Failed":
            continue
        try:
            text = "\n".join(tail_lines(current_log(root, str(row["name"])), 15))
        except Exception:  # noqa: BLE001 - a missing log is not worth failing a report
            text = "(no log)"
        tails[str(row["name"])] = strip_ansi(text).replace("```", "'''")
    return tails


def build(result: PassResult, now: float) -> tuple[str, list[dict[str, Any]]]:
    """Render the report for one observed pass; returns the text and the status rows."""
    desired = result.desired
    rows = status_rows(desired, result.observed, result.plan)
    info = revision_info(desired.root)
    rev = info["revision"]
    revision = (str(rev["sha"]), str(rev["subject"])) if isinstance(rev, dict) else None
    dirty = bool(info["specsDirty"])
    src = ReportInput(
        rows=rows,
        events=read_events(desired.state_dir, 200),
        revision=revision,
        dirty=dirty,
        host=host_name(desired),
        generated=now,
        ahead=_ahead(desired, rows),
        log_tails=_log_tails(rows, desired.root),
    )
    return render_report(_template(desired.root), src), rows


def render(result: PassResult, now: float) -> tuple[str, list[dict[str, Any]]]:
    """The report's text, secrets masked (a reason or a log tail may quote one), and the rows."""
    text, rows = build(result, now)
    return mask(text), rows


def run_reports(
    result: PassResult, rows: list[dict[str, Any]], now: float, *, write: bool
) -> tuple[dict[str, str], bool]:
    """The run reports beside the report (``workers/<name>.md``), by their path in the
    control repo; and whether any changed. ``write``: also write the changed ones locally."""
    desired = result.desired
    folder = report_path(desired).parent / FOLDER  # under state/ with reports.branch
    runs = write_run_reports(desired, rows, result.observed.states, folder, now, write=write)
    rel = Path(report_rel(desired)).parent / FOLDER
    return {(rel / p.name).as_posix(): t for p, t in runs.texts.items()}, bool(runs.written)


def runs_digest(runs: dict[str, str]) -> str:
    """A fingerprint of the run reports' content (their Generated lines left out)."""
    return digest("".join(f"{rel}\0{without_generated(t)}\0" for rel, t in sorted(runs.items())))


def write_local(
    result: PassResult, now: float
) -> tuple[Path, bool, str, list[dict[str, Any]], dict[str, str]]:
    """Render and write the report and the run reports whose content changed.

    Returns the local path, whether anything was written, the text now in it
    (the old text, Generated line and all, when only that line would differ),
    the status rows and the run reports (see :func:`run_reports`).
    """
    text, rows = render(result, now)
    path = report_path(result.desired)
    runs, runs_changed = run_reports(result, rows, now, write=True)
    old = path.read_text() if path.exists() else None
    if old is not None and without_generated(old) == without_generated(text):
        return path, runs_changed, old, rows, runs
    write_atomic(path, text)
    return path, True, text, rows, runs


def write_report(
    result: PassResult, *, commit: bool, push: bool, now: float | None = None
) -> ReportResult:
    """`orch report`: write the report; with ``commit``, commit it when its content changed.

    ``push`` (or reports.push) pushes reports.branch afterwards; it needs one.
    """
    desired = result.desired
    cfg = desired.config
    push = push or (commit and cfg.reports_push)
    if push and cfg.reports_branch is None:
        msg = (
            "--push needs reports.branch in config/orch.yaml (a branch of its own, e.g. "
            "orch/status): pushing the current branch would push your own unpushed commits"
        )
        raise UsageError(msg)
    now = time.time() if now is None else now
    path, changed, text, rows, runs = write_local(result, now)
    if not commit:
        return ReportResult(path, changed, None, "written" if changed else "unchanged")
    sha, note = publish(desired, text, rows, runs, push=push)
    if note.startswith("waiting"):
        remember_waiting(desired, note)
    else:
        remember_commit(desired, text, rows, runs, now)
    return ReportResult(path, changed, sha, note)


def publish(
    desired: Desired,
    text: str,
    rows: list[dict[str, Any]],
    runs: dict[str, str],
    *,
    push: bool,
) -> tuple[str | None, str]:
    """Commit ``text`` as the report and ``runs`` as the run reports (and push); returns
    the commit (or None) and a note.

    The note is ``unchanged`` when the last committed report says the same
    (ignoring its Generated line) and so do the run reports (their digest in
    state/report.json), or says why the report waits.
    """
    cfg, root, rel = desired.config, desired.root, report_rel(desired)
    branch = cfg.reports_branch
    if branch is None:
        why = gitops.checkout_busy(root)
        if why:
            return None, f"waiting: {why}; no report commit on the current branch until then"
        ref = "HEAD"
    else:
        where = gitops.checked_out_at(root, branch)
        if where:
            msg = (
                f"reports.branch {branch} is checked out at {where}; orch commits reports only "
                "to a branch of its own that is never checked out (e.g. orch/status)"
            )
            raise UsageError(msg)
        ref = f"refs/heads/{branch}"
    last = gitops.file_at(root, ref, rel)
    texts = {rel: text, **runs}
    files, message = {p: t.encode() for p, t in texts.items()}, commit_message(rows)
    same_runs = read_memory(desired).get("runs") == runs_digest(runs)
    if same_runs and last is not None and without_generated(last) == without_generated(text):
        sha, note = None, "unchanged"
    elif branch is None:
        for p, t in texts.items():  # the work tree's files are the committed ones, byte for byte
            path = root / p
            if not path.is_file() or path.read_text() != t:
                write_atomic(path, t)
        sha = gitops.commit_on_current_branch(root, files, message, cfg.reports_author)
        note = "committed"
    else:
        sha = gitops.commit_on_branch(root, branch, files, message, cfg.reports_author)
        note = f"committed to {branch}"
    note = "unchanged" if sha is None else note
    if push and branch is not None and (sha or not gitops.pushed(root, branch)):
        # also a commit an earlier push failed to bring over
        tries = gitops.push_branch(
            root, branch, files, message, cfg.reports_author, timeout=cfg.network_timeout
        )
        sha = gitops.branch_tip(root, branch)  # made again on the remote's tip, maybe
        note += f" and pushed ({tries} tr{'y' if tries == 1 else 'ies'})"
    return sha, note


def remember_commit(
    desired: Desired, text: str, rows: list[dict[str, Any]], runs: dict[str, str], now: float
) -> None:
    """Record that ``text`` and ``runs`` are the committed reports as of ``now`` (committed,
    or found equal).

    Restarts reports.minInterval and clears the urgent changes it covers; the
    phases it shows are the watcher's baseline for new urgent changes.
    """
    memory = read_memory(desired)
    memory.update(committed_at=now, urgent=[])
    phases = {str(r["name"]): str(r["phase"]) for r in rows}
    memory.update(digest=digest(without_generated(text)), runs=runs_digest(runs))
    memory.update(waiting=None, phases=phases)
    save_memory(desired, memory)


def remember_waiting(desired: Desired, note: str) -> None:
    """Record why the report waits (`orch status` shows it until a report commit)."""
    memory = read_memory(desired)
    memory["waiting"] = note
    save_memory(desired, memory)
