"""What `orch dashboard` reads each refresh, and the command the fleet's `dashboard` window runs.

A refresh is the observation `orch status` makes (one ``tmux list-panes``, the
state files, a few stats per worker; :func:`engine.snapshot`, which writes
nothing), plus the end of each log that grew and of state/events.jsonl. It
never takes the control repo's lock, so it never holds up a reconciler.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core.errors import OrchError
from reconciler.core.model import Desired
from reconciler.core.observed import Observed
from reconciler.core.rows import status_rows
from reconciler.core.summary import strip_ansi
from reconciler.drivers.proc import pid_alive
from reconciler.loop import engine, spec_revision
from reconciler.loop.events import read_events
from reconciler.loop.logs import tail_lines
from reconciler.loop.reconciler_info import last_pass
from reconciler.loop.state_store import lock_holder

if TYPE_CHECKING:  # rich is imported only by the dashboard itself, not by every reconcile
    from reconciler.core.dashboard import Frame

HISTORY = 10  # refreshes the sparkline covers
REVISION_EVERY = 10  # refreshes between two reads of the specs' revision (two git calls)
# Per-workstation settings a dashboard must share with the reconciler that started it.
SHARED_ENV = ("ORCH_HOST", "ORCH_RUN_UNPLACED")


def window_command(desired: Desired) -> list[str]:
    """The argv the fleet session's ``dashboard`` window runs: this orch, this root, this socket.

    A dashboard that exits (Ctrl-C, a crash) leaves a shell in the window, with
    the line that starts it again; the reconciler is a separate process and
    never waits for it. The shell ignores Ctrl-C meant for the dashboard.
    """
    env = {"ORCH_TMUX_SOCKET": desired.config.tmux_socket}
    env |= {k: os.environ[k] for k in SHARED_ENV if os.environ.get(k)}
    argv = [sys.executable, "-m", "reconciler", "--root", str(desired.root), "dashboard"]
    line = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(argv)])
    again = shlex.quote(f"orch dashboard exited; start it again with: {line}")
    script = f"trap : INT; {line}; echo; echo {again}; exec /bin/sh"
    return ["/bin/sh", "-c", script]


@dataclass
class Sampler:
    """Builds one :class:`Frame` a refresh; remembers log sizes between refreshes."""

    root: Path
    sizes: dict[str, int] = field(default_factory=dict)
    growth: dict[str, deque[int]] = field(default_factory=dict)
    # name -> (log, its size, its last line): read again only when the log changed
    lines: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    revision: dict[str, object] = field(default_factory=dict)
    fleet: str = ""
    count: int = 0

    def frame(self, now: float, width: int, height: int, *, keep_going: bool = True) -> Frame:
        """This moment's frame; with ``keep_going`` an error keeps the last rows and says why."""
        from reconciler.core.dashboard import Frame

        error = None
        try:
            self._refresh(now)
        except (OrchError, OSError) as err:  # the next refresh tries again
            if not keep_going:
                raise
            error = str(err).splitlines()[0] if str(err) else type(err).__name__
        state = self.root / "state"
        rev = self.revision.get("revision")
        return Frame(
            rows=self.rows,
            now=now,
            fleet=self.fleet,
            last_lines={n: line for n, (_, _, line) in self.lines.items()},
            growth={n: tuple(g) for n, g in self.growth.items()},
            events=read_events(state, 8),
            revision=rev if isinstance(rev, dict) else None,
            specs_dirty=bool(self.revision.get("specsDirty")),
            last_pass=_last_pass_time(state),
            watcher=watcher(state),
            error=error,
            width=width,
            height=height,
        )

    def _refresh(self, now: float) -> None:
        desired = engine.load(self.root, require_env=False)
        observed = engine.snapshot(desired)
        self.fleet = desired.config.fleet_name
        self.rows = status_rows(desired, observed, engine.make_plan(desired, observed, now=now))
        if self.count % REVISION_EVERY == 0:
            self.revision = spec_revision.remembered(desired.root, desired.state_dir)
        self.count += 1
        self._logs(observed)

    def _logs(self, observed: Observed) -> None:
        """Log growth since the last refresh, and the last line of each log that grew."""
        names = {str(row["name"]) for row in self.rows}
        for memory in (self.sizes, self.growth, self.lines):
            for gone in set(memory) - names:  # removed workers
                del memory[gone]
        for row in self.rows:
            name = str(row["name"])
            files, state = observed.files.get(name), observed.states.get(name)
            size = files.log_size if files and files.log_size is not None else 0
            grew = size - self.sizes.get(name, size)
            self.sizes[name] = size
            self.growth.setdefault(name, deque(maxlen=HISTORY)).append(max(grew, 0))
            stream = files.stream if files else None
            log = state.log if state and state.log else ""
            if stream is not None and stream.last_text.strip():  # claude: its last text
                self.lines[name] = ("", size, _last_line(stream.last_text.splitlines()))
            elif log and self.lines.get(name, ("", -1, ""))[:2] != (log, size):
                self.lines[name] = (log, size, _log_line(Path(log)))


def _last_line(lines: list[str]) -> str:
    """The last line with text in it, without terminal escapes."""
    for line in reversed(lines):
        clean = strip_ansi(line).strip()
        if clean:
            return clean
    return ""


def _log_line(path: Path) -> str:
    try:
        return _last_line(tail_lines(path, 20, block=8192))
    except OSError:
        return ""


def watcher(state_dir: Path) -> str | None:
    """``pid N since T`` of a running `orch reconcile --watch` on this control repo, if any."""
    info = lock_holder(state_dir)
    pid = info.get("pid")
    if info.get("watch") is not True or info.get("host") != socket.gethostname():
        return None
    if not isinstance(pid, int) or not pid_alive(pid):
        return None
    return f"pid {pid} since {info.get('since', '?')}"


def _last_pass_time(state: Path) -> float | None:
    """When the last pass ran (state/last-pass.json), if one left its note."""
    ts = (last_pass(state) or {}).get("ts")
    return float(ts) if isinstance(ts, int | float) else None
