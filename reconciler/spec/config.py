"""config/orch.yaml -> :class:`Config`, every default of the example filled in."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.core.duration import parse_duration
from reconciler.core.errors import SpecError
from reconciler.core.model import CONFIG_FILE, Config
from reconciler.spec.schemas import schema_errors
from reconciler.spec.yamlsource import parse_documents

# (section, key) -> (Config field, converter)
_FIELDS: dict[tuple[str, str], tuple[str, Any]] = {
    ("fleet", "name"): ("fleet_name", lambda v: v),
    ("tmux", "socket"): ("tmux_socket", str),
    ("tmux", "session"): ("tmux_session", lambda v: v),
    ("tmux", "dashboard"): ("tmux_dashboard", bool),
    ("worktrees", "root"): ("worktrees_root", str),
    ("reconcile", "resync"): ("resync", parse_duration),
    ("reconcile", "debounce"): ("debounce", parse_duration),
    ("reconcile", "maxPruneFraction"): ("max_prune_fraction", float),
    ("reconcile", "stopGrace"): ("stop_grace", parse_duration),
    ("reconcile", "startInterval"): ("start_interval", parse_duration),
    ("reconcile", "source"): ("source", str),
    ("reconcile", "cpuActivity"): ("cpu_activity", float),
    ("limits", "pause"): ("limits_pause", parse_duration),
    ("limits", "maxPause"): ("limits_max_pause", parse_duration),
    ("budget", "usd"): ("fleet_budget_usd", lambda v: v if v is None else float(v)),
    ("git", "pull"): ("git_pull", bool),
    ("git", "pullInterval"): ("pull_interval", parse_duration),
    ("host", "name"): ("host_name", lambda v: v),
    ("host", "runUnplaced"): ("run_unplaced", bool),
    ("reports", "path"): ("reports_path", str),
    ("reports", "commit"): ("reports_commit", bool),
    ("reports", "push"): ("reports_push", bool),
    ("reports", "author"): ("reports_author", str),
    ("reports", "minInterval"): ("reports_min_interval", parse_duration),
    ("reports", "settle"): ("reports_settle", parse_duration),
    ("reports", "branch"): ("reports_branch", lambda v: v),
    ("timeouts", "git"): ("git_timeout", parse_duration),
    ("timeouts", "network"): ("network_timeout", parse_duration),
    ("timeouts", "tmux"): ("tmux_timeout", parse_duration),
    ("teardown", "skipIgnored"): ("skip_ignored", tuple),
    ("notify", "command"): ("notify_command", lambda v: tuple(v or ())),
    ("notify", "timeout"): ("notify_timeout", parse_duration),
    ("claude", "configDir"): ("claude_config_dir", lambda v: v),
}


def reconcile_source(root: Path) -> str:
    """``reconcile.source`` of the saved config/orch.yaml: ``worktree`` unless it says committed.

    The switch is read from the saved file, so an edit of it takes effect
    without a commit; anything unreadable is ``worktree`` (the loader reports it).
    """
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # on every command: the fast one
        data = yaml.load((root / CONFIG_FILE).read_bytes(), Loader=loader)
        source = data["reconcile"]["source"]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return "worktree"
    return "committed" if source == "committed" else "worktree"


def load_config(
    root: Path, env: Mapping[str, str], files: Mapping[str, bytes] | None = None
) -> tuple[Config, list[SpecError]]:
    """Read ``root/config/orch.yaml`` (optional), then the per-workstation overrides.

    ``files``: the committed files (relative path -> bytes) to read instead of
    the saved ones. The file is shared through git; ``ORCH_TMUX_SOCKET``,
    ``ORCH_HOST``,
    ``ORCH_RUN_UNPLACED`` and ``ORCH_DASHBOARD`` (1/0) set what differs between
    workstations.
    """
    path = root / CONFIG_FILE
    values: dict[str, Any] = {}
    errors: list[SpecError] = []
    text = files.get(CONFIG_FILE) if files is not None else None
    if text is None and files is None and path.is_file():
        text = path.read_bytes()
    if text is not None:
        docs, errors = parse_documents(CONFIG_FILE, text)
        docs = [d for d in docs if d.data is not None]
        if len(docs) > 1:
            errors.append(
                SpecError(
                    CONFIG_FILE,
                    docs[1].line,
                    docs[1].col,
                    None,
                    "config/orch.yaml holds one document",
                )
            )
        elif docs and not errors:
            errors = schema_errors(docs[0], "config", None)
            if not errors:
                values = _flatten(docs[0].data)
                for key, problem in _reports_problems(values):
                    line, col = docs[0].mark(("reports", key))
                    errors.append(SpecError(CONFIG_FILE, line, col, None, problem))
                for index, problem in _notify_problems(values.get("notify_command", ())):
                    line, col = docs[0].mark(("notify", "command", index))
                    errors.append(SpecError(CONFIG_FILE, line, col, None, problem))
    # Per-workstation overrides: the config file is shared through git.
    if env.get("ORCH_TMUX_SOCKET"):
        values["tmux_socket"] = env["ORCH_TMUX_SOCKET"]
    if env.get("ORCH_HOST"):
        if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", env["ORCH_HOST"]):
            values["host_name"] = env["ORCH_HOST"]
        else:
            errors.append(SpecError("ORCH_HOST", 1, 1, None, "letters, digits, '.', '_', '-' only"))
    for var, key in (("ORCH_RUN_UNPLACED", "run_unplaced"), ("ORCH_DASHBOARD", "tmux_dashboard")):
        if env.get(var):
            values[key] = env[var].strip().lower() in ("1", "true", "yes")
    if not values.get("fleet_name"):
        values["fleet_name"] = default_fleet_name(root)
    if not values.get("tmux_session"):
        values["tmux_session"] = values["fleet_name"]
    return Config(**values), errors


def default_fleet_name(root: Path) -> str:
    """The control repo's folder name plus a short hash of its path.

    Two control repos never share it, even with the same folder name.

    Examples
    --------
    >>> default_fleet_name(Path("/home/me/My Fleet"))[:9]
    'my-fleet-'
    >>> len(default_fleet_name(Path("/x"))) == len("x-") + 6
    True
    """
    slug = re.sub(r"[^a-z0-9_-]+", "-", root.name.lower()).strip("-_")[:40] or "fleet"
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:6]
    return f"{slug}-{digest}"


def _reports_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key under reports, problem) for each reports setting that cannot work."""
    out = []
    path_problem = _reports_path_problem(values.get("reports_path", "reports/status.md"))
    if path_problem:
        out.append(("path", path_problem))
    branch = values.get("reports_branch")
    if branch is not None and (branch == "HEAD" or not _BRANCH.fullmatch(branch)):
        out.append(("branch", f'reports.branch "{branch}" is not a usable branch name'))
    if values.get("reports_push") and branch is None:
        why = (
            "reports.push needs reports.branch (a branch of its own, e.g. orch/status): "
            "pushing the current branch would push your own unpushed commits"
        )
        out.append(("push", why))
    return out


def _notify_problems(argv: tuple[str, ...]) -> list[tuple[int, str]]:
    """(index, problem) for each item of notify.command that would not render."""
    from reconciler.core.notify import NAMES
    from reconciler.spec.templates import static_problem

    out = []
    for index, item in enumerate(argv):
        problem = static_problem(item, NAMES)
        if problem:
            names = ", ".join(sorted(NAMES))
            out.append((index, f"notify.command[{index}]: {problem[1]} (names: {names})"))
    if argv and not argv[0].strip():
        out.append((0, "notify.command[0] must name a program"))
    return out


# A git branch name orch accepts: no "..", "@{", "//", leading "-" or ".", ".lock" end.
_BRANCH = re.compile(
    r"(?!.*\.\.)(?!.*@\{)(?!.*//)(?![-./])(?!.*/\.)[A-Za-z0-9._/-]+(?<![./])(?<!\.lock)"
)


def _reports_path_problem(path: str) -> str | None:
    """Report commits touch only reports/: the path must stay inside it."""
    parts = Path(path).parts
    if Path(path).is_absolute() or ".." in parts or len(parts) < 2 or parts[0] != "reports":
        return f'reports.path "{path}" must be a file under reports/ (e.g. reports/status.md)'
    return None


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section, body in data.items():
        for key, value in (body or {}).items():
            field_name, convert = _FIELDS[(section, key)]
            out[field_name] = convert(value)
    return out
