"""The watcher's notifications: ``notify.command`` run, detached, on phase changes.

After each pass the phases of the plan are compared with the ones seen last
(:func:`reconciler.core.notify.notices` decides); each notice starts the
command through :mod:`reconciler.drivers.detached`, which kills it after
``notify.timeout``. Nothing waits for it: the commands started are reaped
after later passes, and one that failed, timed out or could not start is an
event in state/events.jsonl, never an error of the pass. The phases seen are
written to state/notify.json before any command starts, so a change is told
at most once, even by a watcher started again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from reconciler.core import notify
from reconciler.core.model import Desired
from reconciler.drivers import detached
from reconciler.loop import engine
from reconciler.loop.events import Event, append_events
from reconciler.loop.state_store import write_atomic

MEMORY_FILE = "notify.json"
REAP_SLACK = 0.5  # seconds after a command's time limit: its wrapper has exited by then


class Notifier:
    """Starts ``notify.command`` for the phase changes of each pass; reaps what it started."""

    def __init__(self, emit: Callable[[Event | str], None]) -> None:
        self.emit = emit
        self.running: list[tuple[notify.Notice, detached.Detached, float]] = []  # + reap-by time

    def after_pass(self, result: engine.PassResult, now: float) -> float | None:
        """Reap, then notify what changed; when to look again for a command still running."""
        desired = result.desired
        events = self._reap(now)
        phases = {n: (s.phase.value, s.reason) for n, s in result.plan.statuses.items()}
        memory = _read(desired)
        told = notify.notices(memory.get("phases"), phases)
        if memory.get("phases") != {n: p for n, (p, _) in phases.items()}:
            _save(desired, {"phases": {n: p for n, (p, _) in phases.items()}})
        if desired.config.notify_command:
            events += [e for notice in told if (e := self._start(desired, notice, now))]
        append_events(desired.state_dir, events)
        for event in events:
            self.emit(event)
        return min((by for _, _, by in self.running), default=None)

    def _start(self, desired: Desired, notice: notify.Notice, now: float) -> Event | None:
        cfg = desired.config
        try:
            argv = notify.command(cfg.notify_command, notice, cfg.fleet_name)
            handle = detached.start(
                argv, notify.env(notice, cfg.fleet_name), cfg.notify_timeout, desired.root
            )
        except Exception as err:  # noqa: BLE001 - a template or the OS: told, never fatal
            return _failed(now, notice, f"cannot start notify.command: {err}")
        self.running.append((notice, handle, now + cfg.notify_timeout + REAP_SLACK))
        return None

    def _reap(self, now: float) -> list[Event]:
        events, still = [], []
        for notice, handle, by in self.running:
            ended = handle.poll()
            if ended is None:
                still.append((notice, handle, by))
                continue
            code, err = ended
            if code == detached.TIMED_OUT:
                events.append(_failed(now, notice, f"notify.command timed out: {err}"))
            elif code:
                events.append(_failed(now, notice, f"notify.command exited {code}: {err}"))
        self.running = still
        return events


def _failed(now: float, notice: notify.Notice, error: str) -> Event:
    what = f"{notice.phase}: {notice.reason}" if notice.reason else notice.phase
    return Event(now, notice.worker, "notify", what, ok=False, error=error.rstrip(": "))


def _read(desired: Desired) -> dict[str, Any]:
    try:
        data = json.loads((desired.state_dir / MEMORY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(desired: Desired, memory: dict[str, Any]) -> None:
    write_atomic(desired.state_dir / MEMORY_FILE, json.dumps(memory, sort_keys=True))
