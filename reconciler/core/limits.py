"""Fleet-wide holds on starts: account usage limits, budgets, staggered starts (pure).

A usage-limit rejection puts the worker in Limited (no crash counted) and
pauses every start and restart of the workers sharing its account (the same
Agent: the same credentials) until the reset the CLI gave, else for
``limits.pause``, doubling up to ``limits.maxPause`` while rejections go on.
When the pause ends one worker starts first as a probe; the others follow
once it gets through. A spent budget (a worker's ``budget.usd``, or the
fleet's) holds starts too (Paused); running agents finish their turn. Starts
of agents whose CLI shares a config file are spaced by ``startInterval``.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo

from reconciler.core.actions import Action, Phase, Verb
from reconciler.core.model import Desired, Worker, WorkerState
from reconciler.core.observed import Observed, WorkerFiles
from reconciler.core.worker_view import WorkerResult


def attempt_key(stage: str | None, attempt: int) -> str:
    """How an attempt's cost is filed in a worker's state."""
    return f"{stage}#{attempt}"


def worker_cost(state: WorkerState | None, files: WorkerFiles | None) -> float | None:
    """USD a worker's agent reported over all its attempts (None: nothing reported).

    Examples
    --------
    >>> worker_cost(WorkerState("w", costs={"a#1": 0.5}), None)
    0.5
    """
    total = sum(state.costs.values()) if state else 0.0
    known = bool(state and state.costs)
    stream = files.stream if files else None
    current = attempt_key(state.stage, state.attempt) if state else ""
    if state and stream and stream.cost_usd is not None and current not in state.costs:
        total, known = total + stream.cost_usd, True
    return total if known else None


# "You've hit your limit · resets 4:11pm (UTC)"; older CLIs: "usage limit reached|<epoch>".
_RESET = re.compile(
    r"resets\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*([ap]m)?\s*(?:\(([^)]+)\))?", re.IGNORECASE
)
_EPOCH = re.compile(r"limit reached\|(\d{9,11})\b", re.IGNORECASE)


def reset_from_text(text: str, now: float) -> float | None:
    """The reset a usage-limit message names, as the next such time after ``now``.

    Without a zone in the message it is this machine's local time (the CLI runs here).

    Examples
    --------
    >>> reset_from_text("You've hit your limit · resets 4:11pm (UTC)", 0.0)  # 1970-01-01
    58260.0
    >>> reset_from_text("Claude AI usage limit reached|1767225600", 0.0)
    1767225600.0
    >>> reset_from_text("API Error: Request rejected (429)", 0.0) is None
    True
    """
    if m := _EPOCH.search(text):
        return float(m[1])
    m = _RESET.search(text)
    if not m:
        return None
    hour, minute, half = int(m[1]), int(m[2] or 0), (m[3] or "").lower()
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0)
    try:
        zone = _zone(m[4])
    except LookupError:  # a zone this machine does not know: no time to trust
        return None
    if hour > 23 or minute > 59:
        return None
    local = datetime.fromtimestamp(now, zone)
    at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at.timestamp() <= now:
        at += timedelta(days=1)
    return at.timestamp()


def _zone(name: str | None) -> tzinfo | None:
    """The zone a message names; None (this machine's local time) when it names none."""
    if not name:
        return None
    if name.strip().upper() in ("UTC", "GMT", "Z"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only for a limit message naming a zone

    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise LookupError(name) from err


def limit_pause(observed: Observed, account: str, now: float, cfg_pause: float,
                cfg_max: float, resets_at: float | None) -> float:  # fmt: skip
    """When a new rejection of ``account`` lifts: the CLI's reset time, else the doubled pause."""
    if resets_at is not None and resets_at > now:
        return resets_at
    previous = observed.accounts.get(account)
    pause = min(previous.pause * 2, cfg_max) if previous else cfg_pause
    return now + pause


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def _hold(r: WorkerResult, phase: Phase, reason: str) -> WorkerResult:
    """``r`` without its agent start (its other steps, a worktree say, still happen)."""
    kept = tuple(a for a in r.actions if a.verb is not Verb.START_AGENT)
    return replace(r, actions=kept, starts=False, status=replace(r.status, phase=phase,
                                                                 reason=reason))  # fmt: skip


def _starts(r: WorkerResult) -> bool:
    return any(a.verb is Verb.START_AGENT for a in r.actions)


def apply_holds(
    desired: Desired, observed: Observed, results: dict[str, WorkerResult], now: float
) -> tuple[list[Action], float | None]:
    """Hold back starts that must wait; the account actions to take and when to look again."""
    extra: list[Action] = []
    wakes: list[float] = []
    spent = _fleet_spent(desired, observed)
    last_start = _last_staggered_start(desired, observed)
    staggered_now = False
    for name, r in results.items():
        if not _starts(r):
            continue
        w = desired.workers[name]
        held = _budget_hold(desired, observed, w, spent)
        if held:
            results[name] = _hold(r, Phase.PAUSED, held)
            continue
        held, acts, wake = _account_hold(desired, observed, w, now, extra)
        if held:
            results[name] = _hold(r, Phase.LIMITED, held)
            wakes += [wake] if wake else []
            continue
        agent = desired.agents.get(w.agent)
        interval = desired.config.start_interval
        if agent and agent.staggered and interval > 0:
            due = (last_start or 0.0) + interval
            if staggered_now or now < due:
                when = max(due, now + interval) if staggered_now else due
                results[name] = _hold(r, Phase.PENDING, f"starting in {when - now:.0f}s "
                                      "(reconcile.startInterval spaces agent starts)")  # fmt: skip
                wakes.append(when)
                continue
            staggered_now = True
        extra += acts
    extra += _probes_through(observed, now)
    return extra, (min(wakes) if wakes else None)


def _budget_hold(desired: Desired, observed: Observed, w: Worker, spent: float) -> str | None:
    fleet = desired.config.fleet_budget_usd
    if fleet is not None and spent >= fleet:
        return f"fleet budget of ${fleet:g} spent (${spent:.2f}); nothing new starts"
    if w.budget_usd is None:
        return None
    cost = worker_cost(observed.states.get(w.name), observed.files.get(w.name)) or 0.0
    if cost >= w.budget_usd:
        return f"budget of ${w.budget_usd:g} spent (${cost:.2f}); raise budget.usd to go on"
    return None


def _account_hold(
    desired: Desired, observed: Observed, w: Worker, now: float, taken: list[Action]
) -> tuple[str | None, list[Action], float | None]:
    acct = observed.accounts.get(w.agent)
    if acct is None:
        return None, [], None
    if now < acct.until:
        why = f"account {w.agent}: {acct.reason}; starts paused until {_clock(acct.until)}"
        return why, [], acct.until
    probing = acct.probe or next(
        (a.worker for a in taken if a.verb is Verb.PROBE_ACCOUNT and a.repo == w.agent), None
    )
    if probing is None:
        probe = Action(Verb.PROBE_ACCOUNT, w.name, f"pause over: {w.name} starts first",
                       repo=w.agent)  # fmt: skip
        return None, [probe], None
    if probing == w.name:
        return None, [], None
    return f"account {w.agent}: waiting for {probing} to get through the usage limit", [], None


def _probes_through(observed: Observed, now: float) -> list[Action]:
    """Accounts whose probe got through: its attempt made progress since it started."""
    out = []
    for account, acct in observed.accounts.items():
        if not acct.probe or acct.probe_started is None:
            continue
        files = observed.files.get(acct.probe)
        stream = files.stream if files else None
        progressed = bool(files and files.activity and files.activity > acct.probe_started + 1)
        if stream and (stream.tool_calls or (stream.ended and not stream.is_error)):
            progressed = True
        if progressed and not (stream and stream.rate_limited):
            out.append(Action(Verb.CLEAR_ACCOUNT, acct.probe, f"{acct.probe} got through",
                              repo=account))  # fmt: skip
    return out


def _fleet_spent(desired: Desired, observed: Observed) -> float:
    if desired.config.fleet_budget_usd is None:
        return 0.0
    names = set(observed.states)
    return sum(worker_cost(observed.states.get(n), observed.files.get(n)) or 0.0 for n in names)


def _last_staggered_start(desired: Desired, observed: Observed) -> float | None:
    times = [
        s.attempt_started_at
        for n, s in observed.states.items()
        if s.attempt_started_at
        and (w := desired.workers.get(n))
        and (a := desired.agents.get(w.agent))
        and a.staggered
    ]
    return max(times) if times else None
