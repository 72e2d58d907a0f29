"""Parsers for what tmux, git and the file system report (pure: text in, data out).

One ``tmux list-panes -a -F`` call and one ``git worktree list --porcelain``
per repo are the whole observation of the outside world; the format string is
built here, in one place, next to the parser that reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from reconciler.core.claude_stream import StreamFacts
from reconciler.core.hooks import HookFacts
from reconciler.core.model import AccountLimit, WorkerState

SEP = "\u241e"  # "␞": never in a worker name, rare anywhere

# (tmux format variable, attribute) in output order; window_name stays last so a
# foreign window whose name holds the separator cannot shift other fields.
PANE_FIELDS: tuple[tuple[str, str], ...] = (
    ("session_name", "session"),
    ("window_id", "window_id"),
    ("window_index", "window_index"),
    ("pane_id", "pane_id"),
    ("pane_index", "pane_index"),
    ("pane_pid", "pane_pid"),
    ("pane_dead", "dead"),
    ("pane_dead_status", "dead_status"),
    ("pane_dead_signal", "dead_signal"),
    ("window_activity", "activity"),
    ("pid", "server_pid"),
    ("@orch-fleet", "fleet"),
    ("@orch-worker", "worker"),
    ("@orch-spec", "spec"),
    ("@orch-stage", "stage"),
    ("@orch-attempt", "attempt"),
    ("window_name", "window_name"),
)
PANE_FORMAT = SEP.join(f"#{{{name}}}" for name, _ in PANE_FIELDS)
_ATTRS = tuple(attr for _, attr in PANE_FIELDS)


@dataclass(frozen=True)
class Pane:
    """One tmux pane with its window's orch options (first pane of a window only)."""

    session: str
    window_id: str
    window_index: int
    window_name: str
    pane_id: str
    pane_pid: int
    dead: bool
    dead_status: int | None
    dead_signal: int | None
    activity: float
    worker: str | None
    spec: str | None
    stage: str | None
    attempt: int | None
    server_pid: int | None = None
    fleet: str | None = None  # @orch-fleet: the fleet that made the window

    @property
    def exit_unknown(self) -> bool:
        """Dead, but tmux has not reported how: its exit was not collected yet."""
        return self.dead and self.dead_status is None and self.dead_signal is None


def _int(text: str) -> int | None:
    if text.isdigit():  # the usual case, without an exception (a thousand panes a pass)
        return int(text)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_panes(text: str | None) -> tuple[Pane, ...]:
    """Panes from ``list-panes -a -F PANE_FORMAT`` output; None (no server) gives none.

    Lines that do not parse (a foreign name with a newline) are skipped; only
    the first pane of each window is kept, as orch windows have one pane.
    """
    if not text:
        return ()
    panes: list[Pane] = []
    seen: set[str] = set()
    for line in text.splitlines():
        parts = line.split(SEP, len(PANE_FIELDS) - 1)
        if len(parts) != len(PANE_FIELDS):
            continue
        raw = dict(zip(_ATTRS, parts, strict=True))
        pid = _int(raw["pane_pid"])
        index = _int(raw["window_index"])
        if pid is None or index is None or raw["window_id"] in seen:
            continue
        seen.add(raw["window_id"])
        panes.append(
            Pane(
                session=raw["session"],
                window_id=raw["window_id"],
                window_index=index,
                window_name=raw["window_name"],
                pane_id=raw["pane_id"],
                pane_pid=pid,
                dead=raw["dead"] == "1",
                dead_status=_int(raw["dead_status"]),
                dead_signal=_int(raw["dead_signal"]),
                activity=float(_int(raw["activity"]) or 0),
                worker=raw["worker"] or None,
                spec=raw["spec"] or None,
                stage=raw["stage"] or None,
                attempt=_int(raw["attempt"]),
                server_pid=_int(raw["server_pid"]),
                fleet=raw["fleet"] or None,
            )
        )
    return tuple(panes)


@dataclass(frozen=True)
class WorktreeEntry:
    """One entry of ``git worktree list --porcelain``."""

    path: str
    head: str | None
    branch: str | None
    bare: bool = False
    detached: bool = False
    prunable: bool = False
    locked: str | None = None  # the lock's reason ("" without one); git's own while it makes one
    admin: str | None = None  # its folder under <common dir>/worktrees/ (when read from files)

    @property
    def unfinished(self) -> bool:
        """Whether ``git worktree add`` never finished it (killed half-way): not a worktree yet."""
        return self.locked == "initializing"


def parse_worktrees(text: str) -> tuple[WorktreeEntry, ...]:
    """Entries of ``git worktree list --porcelain``; ``branch`` without ``refs/heads/``.

    Examples
    --------
    >>> parse_worktrees("worktree /r\\nHEAD ab\\nbranch refs/heads/main\\n\\n")[0].branch
    'main'
    >>> parse_worktrees("worktree /w\\nHEAD 00\\ndetached\\nlocked initializing\\n")[0].unfinished
    True
    """
    out: list[WorktreeEntry] = []
    for block in text.strip().split("\n\n"):
        attrs: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            attrs[key] = value
        if "worktree" not in attrs:
            continue
        branch = attrs.get("branch")
        out.append(
            WorktreeEntry(
                path=attrs["worktree"],
                head=attrs.get("HEAD"),
                branch=branch.removeprefix("refs/heads/") if branch else None,
                bare="bare" in attrs,
                detached="detached" in attrs,
                prunable="prunable" in attrs,
                locked=attrs.get("locked"),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Signal:
    """A stage's signal file: ``done`` or ``failed``, with its optional summary."""

    kind: str
    summary: str
    mtime: float


@dataclass(frozen=True)
class WorkerFiles:
    """What the file system says about one worker's worktree and logs."""

    worktree_exists: bool = False
    path: str | None = None  # where the worktree is (or would be)
    marker: str | None = None  # the worker named in <worktree>/.orch/owner.json
    setup_done: bool = False  # <worktree>/.orch/setup.done: the Repo's setup finished
    setup_failed: str | None = None  # <worktree>/.orch/setup.failed: which command, its exit
    unreadable: str | None = None  # why the worktree could not be read (then nothing else is known)
    unfinished: bool = False  # git was killed while making it: set aside and made again
    own_commits: int | None = None  # base changed: commits the branch has beyond its old base
    stream: StreamFacts | None = None  # claude: what the attempt's stream-json said
    hooks: HookFacts | None = None  # claude: what the attempt's hooks said
    signals: Mapping[str, Signal] = field(default_factory=dict)
    progress_mtime: float | None = None
    log_size: int | None = None
    log_mtime: float | None = None
    head: str | None = None
    # newest meaningful activity: log growth that is not quiet, .orch/ changes,
    # commits in the worktree (see snapshot.py)
    activity: float | None = None
    # the last time the agent's process tree used CPU (core/cpu_activity.py)
    cpu_active: float | None = None

    @property
    def last_activity(self) -> float | None:
        """The newest sign of life: output, files, commits, hooks, or CPU time used."""
        known = [t for t in (self.activity, self.cpu_active) if t is not None]
        return max(known) if known else None

    # interactive agents before their first prompt: the visible screen (a first-run
    # question orch did not pre-answer shows there, and nowhere else)
    screen: str | None = None


@dataclass(frozen=True)
class Observed:
    """One snapshot of the world: tmux, worktrees, files and runtime state."""

    tmux_up: bool
    panes: tuple[Pane, ...]
    worktrees: Mapping[str, tuple[WorktreeEntry, ...]]  # repo path -> entries
    files: Mapping[str, WorkerFiles]
    states: Mapping[str, WorkerState]
    session: str = "orch"
    missing_repos: frozenset[str] = frozenset()  # Repos whose clone is not on disk yet
    fleet: str = "orch"
    corrupt: tuple[tuple[str, str], ...] = ()  # state files that could not be read, and why
    accounts: Mapping[str, AccountLimit] = field(default_factory=dict)  # paused agent accounts

    def window_of(self, worker: str) -> Pane | None:
        """The window orch owns for ``worker``: in its session, tagged with its fleet and name."""
        return self._owned.get(worker)

    def owned_windows(self) -> dict[str, Pane]:
        """Every window orch owns in its session, by worker name."""
        return dict(self._owned)

    def known_workers(self) -> set[str]:
        """Every worker orch runs or remembers: state files, owned windows, marked worktrees."""
        marked = {n for n, f in self.files.items() if f.worktree_exists and f.marker == n}
        return set(self.states) | set(self._owned) | marked

    @cached_property
    def _owned(self) -> dict[str, Pane]:
        owned: dict[str, Pane] = {}
        for p in self.panes:  # the first window wins, as a scan in order would find it
            if self.owns(p) and p.worker and p.worker not in owned:
                owned[p.worker] = p
        return owned

    def owns(self, pane: Pane) -> bool:
        """Whether ``pane`` is a worker window of this fleet (never touch any other)."""
        return pane.session == self.session and bool(pane.worker) and pane.fleet == self.fleet

    def foreign(self) -> tuple[Pane, ...]:
        """Windows on the socket that are not this fleet's: other fleets', hand-made ones.

        The fleet session's own ``dashboard`` window is not foreign.
        """
        return tuple(
            p
            for p in self.panes
            if not self.owns(p)
            and not (p.session == self.session and not p.worker and p.window_name == "dashboard")
        )

    @property
    def session_exists(self) -> bool:
        """Whether the fleet session exists."""
        return any(p.session == self.session for p in self.panes)


def repo_of(worktrees: Mapping[str, tuple[WorktreeEntry, ...]], path: str) -> str | None:
    """The repo whose ``git worktree list`` holds ``path``."""
    for repo, entries in worktrees.items():
        if any(e.path == path for e in entries):
            return repo
    return None
