"""The desired-state model: frozen dataclasses built by the spec loader.

Nothing here does I/O. Durations are seconds (floats); paths are absolute.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API_VERSION = "orch/v1"
KINDS = ("Repo", "Agent", "Pipeline", "Worker", "WorkerSet")
DONE_WHEN = ("signal", "exit0", "any")
# Git-ignored folders not archived at teardown: they are rebuilt, not written by hand.
DEFAULT_SKIP_IGNORED = ("node_modules/", ".venv/", "target/", "build/", "dist/", "__pycache__/")


@dataclass(frozen=True)
class Source:
    """Where an object was declared: a file relative to the root, 1-based line and column."""

    path: str
    line: int
    col: int


@dataclass(frozen=True)
class Repo:
    """A git repository workers run in."""

    name: str
    path: Path | None
    url: str | None
    default_branch: str
    setup: tuple[str, ...]
    workflows: Mapping[str, str]
    source: Source

    @property
    def local_path(self) -> Path:
        """The clone on disk (``path``, or where ``url`` is cloned: ``clones/<name>``)."""
        assert self.path is not None, "a url Repo gets its path from the loader"
        return self.path


@dataclass(frozen=True)
class Agent:
    """How to launch a coding agent: argv templates, environment, quiet patterns.

    ``profile`` names the built-in kind it was made from (``claude``, ``codex``,
    ``aider``, ``shell``; empty for a plain command): orch knows how to read
    that agent's output (stream-json for claude) and which hooks it takes.
    Values of ``env`` may be ``${NAME}``: taken from orch's own environment at
    each start, so no secret lives in git.
    """

    name: str
    command: tuple[str, ...]
    resume: tuple[str, ...] | None
    env: Mapping[str, str]
    quiet_patterns: tuple[str, ...]
    session_id_from: str | None
    source: Source
    profile: str = ""
    builtin: bool = False  # a profile used without an Agent document
    stop_nudges: int = 2  # claude: Stop-hook nudges per attempt before the stop is let through
    staggered: bool = False  # starts spaced by reconcile.startInterval (a CLI with a shared config)
    interactive: bool = False  # runs attached to its window's terminal (a person can type)
    claude_config_dir: str | None = None  # claude: a config folder orch fills (else the user's)


@dataclass(frozen=True)
class Stage:
    """One step of a pipeline."""

    name: str
    prompt: str
    stall_timeout: float
    timeout: float
    done_when: str
    restart_prompt: str | None = None
    tool_timeout: float = 1800.0  # an open tool call counts as activity this long (claude hooks)


@dataclass(frozen=True)
class Pipeline:
    """An ordered list of stages."""

    name: str
    stages: tuple[Stage, ...]
    source: Source

    def index(self, stage: str) -> int:
        """Position of ``stage`` in the pipeline, or -1."""
        for i, s in enumerate(self.stages):
            if s.name == stage:
                return i
        return -1


@dataclass(frozen=True)
class RestartPolicy:
    """How often a stage may be restarted, and how long to wait in between."""

    max_restarts: int = 10
    backoff_initial: float = 10.0
    backoff_max: float = 300.0


@dataclass(frozen=True)
class PullRequest:
    """The pull (merge) request opened for a Succeeded worker; title and body are jinja2."""

    title: str = "{{ worker }}: {{ branch }}"
    body: str | None = None  # None: the worker's run report
    draft: bool = False
    base: str | None = None  # None: the worker's base


@dataclass(frozen=True)
class Publish:
    """What orch does with a Succeeded worker's branch: push it, open a pull request."""

    push: bool = True
    pull_request: PullRequest | None = None


@dataclass(frozen=True)
class Worker:
    """One agent working through a pipeline in its own worktree and tmux window."""

    name: str
    repo: str
    pipeline: str
    agent: str
    branch: str
    base: str
    vars: Mapping[str, Any]
    restart_policy: RestartPolicy
    suspend: bool
    depends_on: tuple[str, ...]
    host: str | None
    labels: Mapping[str, str]
    source: Source
    worker_set: str | None = None
    adopt_branch: bool = False  # may use a branch orch did not create
    budget_usd: float | None = None  # no new starts or restarts once this worker spent it
    publish: Publish | None = None  # push the branch (and open a PR) once Succeeded
    item: Any = None  # the WorkerSet item it was made from (prompts)
    # Hashes of the parts whose change means something different to the loop:
    # placement (repo/branch/base) replaces the worktree; run (agent/pipeline/
    # vars) restarts the current stage.
    placement_hash: str = ""
    run_hashes: Mapping[str, str] = field(default_factory=dict)

    @functools.cached_property  # asked for every worker on every pass
    def run_hash(self) -> str:
        """One hash over agent, pipeline and vars: stored on the tmux window."""
        return stable_hash(dict(sorted(self.run_hashes.items())))


@dataclass(frozen=True)
class WorkerSet:
    """A template stamped over items; ``workers`` keeps item order."""

    name: str
    parallelism: int | None
    workers: tuple[str, ...]
    source: Source

CONFIG_FILE = "config/orch.yaml"  # the control repo's settings, relative to its root


@dataclass(frozen=True)
class Config:
    """config/orch.yaml, with every default filled in."""

    fleet_name: str = "orch"  # the loader derives it from the control repo when not set
    tmux_socket: str = "orch"
    tmux_session: str = "orch"  # the loader defaults it to the fleet's name
    tmux_dashboard: bool = True  # the session's `dashboard` window runs `orch dashboard`
    worktrees_root: str = "worktrees"
    resync: float = 10.0
    debounce: float = 0.2
    max_prune_fraction: float = 0.5
    stop_grace: float = 10.0
    git_pull: bool = False
    pull_interval: float = 60.0
    host_name: str | None = None
    run_unplaced: bool = True
    reports_path: str = "reports/status.md"
    reports_commit: bool = True
    reports_push: bool = False
    reports_author: str = "orch <orch@localhost>"
    reports_min_interval: float = 300.0
    source: str = "worktree"  # reconcile.source: "committed" reads specs and config at HEAD
    reports_settle: float = 30.0
    reports_branch: str | None = None  # None: local commits on the current branch
    cpu_activity: float = 0.5  # CPU seconds of an agent's tree that count as activity; 0: never
    start_interval: float = 2.0  # between starts of agents with a shared config file (claude)
    limits_pause: float = 900.0  # a usage limit without a reset time pauses its account this long
    limits_max_pause: float = 7200.0  # ...doubling while rejections go on, up to this
    fleet_budget_usd: float | None = None  # no new starts once the fleet's agents spent this
    git_timeout: float = 60.0
    network_timeout: float = 600.0
    tmux_timeout: float = 10.0
    skip_ignored: tuple[str, ...] = DEFAULT_SKIP_IGNORED
    notify_command: tuple[str, ...] = ()  # argv template run on phase changes; (): none
    notify_timeout: float = 10.0  # a notify command still running this long is killed
    claude_config_dir: str | None = None  # claude.configDir: a config folder orch fills


@dataclass(frozen=True)
class Desired:
    """Everything the specs ask for, validated and cross-referenced."""

    root: Path
    config: Config
    repos: Mapping[str, Repo]
    agents: Mapping[str, Agent]
    pipelines: Mapping[str, Pipeline]
    workers: Mapping[str, Worker]
    worker_sets: Mapping[str, WorkerSet]
    # Files the specs use besides specs/ and config/ (prompt templates, items
    # files), relative to root: a watcher reloads when one of them changes.
    inputs: tuple[str, ...] = ()

    @property
    def state_dir(self) -> Path:
        """Runtime state folder (gitignored)."""
        return self.root / "state"

    def worktree_path(self, worker: Worker) -> Path:
        """Where ``worker``'s worktree lives: ``<worktrees.root>/<repo>/<worker>``."""
        return (self.root / self.config.worktrees_root / worker.repo / worker.name).resolve()


def stable_hash(value: object) -> str:
    """A short hash of JSON-able data, independent of dict order.

    Examples
    --------
    >>> stable_hash({"b": 1, "a": 2}) == stable_hash({"a": 2, "b": 1})
    True
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class WorkerState:
    """What orch remembers about one worker between passes."""

    name: str
    fleet: str = ""  # the fleet that wrote it; a state of another fleet is not ours
    repo: str = ""
    repo_path: str = ""
    branch: str = ""
    base: str = ""
    worktree: str = ""
    placement_hash: str = ""
    run_hashes: Mapping[str, str] = field(default_factory=dict)
    phase: str = "Pending"
    reason: str = ""
    stage: str | None = None
    attempt: int = 0
    restarts: int = 0  # of the current stage (maxRestarts counts these)
    restarts_total: int = 0  # every restart of every stage, kept when a stage advances
    created_at: float | None = None
    stage_started_at: float | None = None
    attempt_started_at: float | None = None
    finished_at: float | None = None
    backoff_until: float | None = None
    session_id: str | None = None
    log: str | None = None
    stop_sent_at: float | None = None  # orch sent TERM to the running agent then
    # Failed actions (a driver error) in a row, the last one, when, and for which
    # spec (run and placement hashes): a changed spec starts the count again.
    errors: int = 0
    error: str = ""
    error_at: float | None = None
    error_spec: str = ""
    costs: Mapping[str, float] = field(default_factory=dict)  # "stage#attempt" -> USD reported
    # Publishing a Succeeded worker: the commit pushed, the pull request, and failed
    # tries in a row (they never change the phase; retried with backoff).
    published: str = ""
    pr_url: str = ""
    publish_errors: int = 0
    publish_error: str = ""
    publish_error_at: float | None = None
    taken_over: bool = False  # a person drives it (`orch takeover`): orch leaves it alone

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        data = dataclasses.asdict(self)
        data["run_hashes"] = dict(self.run_hashes)
        data["costs"] = dict(self.costs)
        return data

    @classmethod
    def from_json(cls, data: Any) -> WorkerState:
        """Read what :meth:`to_json` wrote, ignoring unknown keys from other versions.

        Raises ValueError for anything else (a list, a field of the wrong type).
        """
        if not isinstance(data, dict):
            msg = "a worker state must be a JSON object"
            raise ValueError(msg)  # noqa: TRY004 - one error type for every unreadable file
        types = _state_types()
        given = {k: v for k, v in data.items() if k in types}
        for key, value in given.items():
            want = types[key]
            if want is not None and not isinstance(value, want):
                msg = f"field {key}: expected {want.__name__}"
                raise ValueError(msg)
        if "name" not in given:
            return cls(**given)  # TypeError: the one field without a default
        # The checked fields straight into a new object: the generated __init__ of a
        # frozen class sets 34 fields one object.__setattr__ at a time (2/3 of reading
        # a thousand state files). No field is derived, so the object is the same.
        state = object.__new__(cls)
        state.__dict__.update(_state_defaults(), **given)
        return state


_STATE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(WorkerState)
                   if f.default is not dataclasses.MISSING}  # fmt: skip
_STATE_FACTORIES = tuple((f.name, f.default_factory) for f in dataclasses.fields(WorkerState)
                         if f.default_factory is not dataclasses.MISSING)  # fmt: skip


def _state_defaults() -> dict[str, Any]:
    """Each WorkerState field's default, a new dict for each ``default_factory``."""
    return {**_STATE_DEFAULTS, **{name: make() for name, make in _STATE_FACTORIES}}


@functools.cache
def _state_types() -> dict[str, type | None]:
    """Each WorkerState field and the type of its default (None: no type to check)."""
    defaults = WorkerState(name="")
    out: dict[str, type | None] = {}
    for f in dataclasses.fields(WorkerState):
        default = getattr(defaults, f.name)
        out[f.name] = None if default is None else type(default)
    return out


@dataclass(frozen=True)
class AccountLimit:
    """An agent account that hit a usage limit: its starts wait until ``until``.

    Then one worker (the probe) starts first; the others follow when it gets
    through. ``pause`` is the last pause, doubled while rejections go on.
    """

    until: float
    pause: float
    reason: str
    probe: str | None = None
    probe_started: float | None = None
