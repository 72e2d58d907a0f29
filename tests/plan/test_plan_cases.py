"""Planner table tests as data: every tests/plan/cases/*.yaml is one test.

A case holds a compact ``desired`` fleet, an ``observed`` world, ``now`` and
the expected ``actions`` (and optionally ``phases``, ``blocked``, ``prune``,
``status_reasons``). On a mismatch the test prints GOT and WANT side by side.

Format (every key optional unless said otherwise)::

    desc: one sentence
    now: 100000                       # default world.NOW
    host: a                           # the reconciler's host (default "a")
    allow_mass_prune: false
    approved: [r1, r2]                # workers `orch approve-prune` let the guard remove
    xfail: "BUG: ..."                 # a known planner bug: strict xfail
    desired:
      pipelines: {p: [build, {name: test, doneWhen: exit0, stallTimeout: 60, timeout: 600}]}
      workers:                        # in spec order
        w1: {pipeline: p, maxRestarts: 3, backoff: [10, 300], suspend: false,
             dependsOn: [w0], vars: {x: 1}, branch: orch/x, host: b, budget: 5.0,
             publish: {pullRequest: {title: t}}}   # as in a Worker spec
      parallelism: 2                  # one WorkerSet "s" over all workers, or:
      sets: {s: {parallelism: 2, workers: [w1, w2]}}
      maxPruneFraction: 0.5
      runUnplaced: true
      staggered: true                 # the agent's starts are spaced (like claude's)
      interactive: true               # the agent runs attached to its window (a TUI)
      startInterval: 2                # and: fleetBudget, limitsPause, limitsMaxPause
      setup: [make deps]              # the repo's setup commands
      url: https://example.invalid/r.git   # the repo is cloned from a url
    observed:
      missing_repos: [r]              # url repos not cloned yet
      windows:                        # worker null: a window without @orch-worker
        - {worker: w1, stage: build, attempt: 1, dead: true, status: 0, signal: 15,
           spec: stale, session: other, fleet: other-fleet, name: w1}
      worktrees: [w1]                 # workers with a worktree (owner marker = name)
      setup_running: [w1]             # the Repo's setup has not finished in its worktree
      setup_failed: {w1: "setup command `make deps` exited 2"}
      unreadable: {w1: "[Errno 13] Permission denied"}   # the worktree cannot be read
      unfinished: [w1]                # git worktree add was killed half-way (locked initializing)
      stream: {w1: {ended: true, is_error: true, error: "API Error: 500", cost_usd: 0.02}}
      hooks: {w1: {last: now-5, open_tool: Bash, open_since: now-600, failure: rate_limit}}
      accounts:                       # agent accounts paused by a usage limit
        claude: {until: now+60, pause: 900, reason: "...", probe: w2, probe_started: now-5}
      own_commits: {w1: 0}            # commits of its branch beyond its old base (base changed)
      signals: {w1: {build: done, test: "failed: the summary"}}   # "done @ now-5": written then
      activity: {w1: now-100}
      cpu: {w1: now-10}               # the agent's process tree last used CPU then
      screen: {w1: "Do you trust the files in this folder?"}   # interactive, before its prompt
      states:
        w1: {phase: Running, stage: build, attempt: 1, restarts: 0, reason: "",
             backoff_until: now+5, attempt_started_at: now-100, stage_started_at: now-100,
             branch: orch/old, base: develop, placement: stale, changed: [vars],
             stop_sent_at: now-3,             # orch sent TERM then (stopGrace: 10s)
             errors: 2, error: "create-worktree: ...", error_at: now-1,  # failed actions
             costs: {"build#1": 0.5},        # USD each attempt reported
             published: "0000...", pr_url: "https://...",   # what publishing did
             publish_errors: 1, publish_error: "publish: ...", publish_error_at: now-5,
             taken_over: true}               # `orch takeover`: a person drives it
    actions:                          # required; "verb worker stage attempt [restart] [-> Phase]"
      - ensure-session
      - start-agent w1 build 2 restart
      - {verb: set-phase, worker: w1, phase: Backoff, backoff_until: now+10, reason: substring}
      - {verb: stop-agent, worker: w1, force: true}    # KILL: the TERM's grace is over
    phases: {w1: Backoff, w9: null}   # null: no status at all
    status_reasons: {w1: substring}
    blocked: [...]                    # like actions
    prune: [2, 3]                     # prune_count, prune_total

Times are numbers or ``now``, ``now-100``, ``now+10``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from world import (
    HOST,
    NOW,
    describe,
    make_desired,
    make_files,
    make_observed,
    make_pane,
    make_pipeline,
    make_signal,
    make_state,
    make_worker,
    placement_hash,
)

from reconciler.core.actions import Action, Phase, Plan, Verb
from reconciler.core.claude_stream import StreamFacts
from reconciler.core.hooks import HookFacts
from reconciler.core.model import AccountLimit, Desired, Worker
from reconciler.core.observed import Observed, Signal, WorkerFiles
from reconciler.core.plan import plan
from reconciler.core.restarts import error_spec
from reconciler.spec.build import build_publish

CASES = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES.glob("*.yaml"))
_TIME = re.compile(r"^now\s*(?:([+-])\s*(\d+(?:\.\d+)?))?$")


def _signals(given: dict[str, str] | None, now: float) -> dict[str, Signal] | None:
    """Signal texts, each with an optional `` @ <time>`` of writing (default: time 0)."""
    if not given:
        return None
    out = {}
    for stage, text in given.items():
        body, _, at = str(text).partition(" @ ")
        out[stage] = make_signal(body, (_time(at, now) or 0.0) if at else 0.0)
    return out


def _time(value: Any, now: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    m = _TIME.match(str(value).strip())
    if not m:
        raise ValueError(f"not a time: {value!r} (use a number, now, now-100 or now+10)")
    sign, amount = m.groups()
    return now + (float(amount) if sign == "+" else -float(amount)) if sign else now


# -- case -> Desired / Observed -------------------------------------------------


def build_desired(spec: dict[str, Any]) -> Desired:
    pipes = [make_pipeline(n, st) for n, st in (spec.get("pipelines") or {}).items()]
    workers = []
    for name, w in (spec.get("workers") or {}).items():
        w = w or {}
        initial, maximum = w.get("backoff", (10, 300))
        workers.append(
            make_worker(
                name,
                pipeline=w.get("pipeline", "p"),
                branch=w.get("branch"),
                base=w.get("base", "main"),
                vars=w.get("vars"),
                max_restarts=int(w.get("maxRestarts", 3)),
                backoff_initial=float(initial),
                backoff_max=float(maximum),
                suspend=bool(w.get("suspend", False)),
                depends_on=w.get("dependsOn", ()),
                host=w.get("host"),
            )
        )
        if "budget" in w:
            workers[-1] = replace(workers[-1], budget_usd=float(w["budget"]))
        if "publish" in w:
            workers[-1] = replace(workers[-1], publish=build_publish(w["publish"]))
    sets = {n: (s.get("parallelism"), s["workers"]) for n, s in (spec.get("sets") or {}).items()}
    return make_desired(
        workers,
        pipelines=pipes or None,
        sets=sets,
        parallelism=spec.get("parallelism"),
        max_prune_fraction=float(spec.get("maxPruneFraction", 0.5)),
        run_unplaced=bool(spec.get("runUnplaced", True)),
        setup=spec.get("setup", ()),
        url=spec.get("url"),
        staggered=bool(spec.get("staggered", False)),
        interactive=bool(spec.get("interactive", False)),
        config={_CONFIG_KEYS[k]: v for k, v in spec.items() if k in _CONFIG_KEYS},
    )


_CONFIG_KEYS = {
    "startInterval": "start_interval",
    "fleetBudget": "fleet_budget_usd",
    "limitsPause": "limits_pause",
    "limitsMaxPause": "limits_max_pause",
}


def build_observed(spec: dict[str, Any], desired: Desired, now: float) -> Observed:
    def worker_or_name(name: str | None) -> Worker | str | None:
        return desired.workers.get(name, name) if name else None

    panes = []
    for win in spec.get("windows") or []:
        who = worker_or_name(win.get("worker"))
        kwargs: dict[str, Any] = {}
        if "spec" in win:
            kwargs["spec"] = "stale-spec" if win["spec"] == "stale" else win["spec"]
        if "session" in win:
            kwargs["session"] = win["session"]
        if "fleet" in win:
            kwargs["fleet"] = win["fleet"]
        panes.append(
            make_pane(
                who,
                win.get("stage"),
                win.get("attempt", 1),
                dead=bool(win.get("dead", False)),
                status=win.get("status"),
                signal=win.get("signal"),
                name=win.get("name"),
                **kwargs,
            )
        )
    worktrees = set(spec.get("worktrees") or [])
    signals = spec.get("signals") or {}
    activity = spec.get("activity") or {}
    names = worktrees | set(signals) | set(activity)
    setup_failed = spec.get("setup_failed") or {}
    unreadable = spec.get("unreadable") or {}
    setup_running = set(spec.get("setup_running") or [])
    files = {
        n: make_files(
            n,
            worktree=n in worktrees,
            signals=_signals(signals.get(n), now),
            activity=_time(activity.get(n), now),
            setup_done=n not in setup_running and n not in setup_failed,
            setup_failed=setup_failed.get(n),
        )
        for n in sorted(names)
    }
    for n, why in unreadable.items():
        files[n] = replace(files[n], unreadable=why)
    for n in spec.get("unfinished") or []:
        files[n] = WorkerFiles(unfinished=True)
    for n, ahead in (spec.get("own_commits") or {}).items():
        files[n] = replace(files[n], own_commits=ahead)
    for n, facts in (spec.get("stream") or {}).items():
        files[n] = replace(files.get(n, make_files(n)), stream=StreamFacts(**facts))
    for n, when in (spec.get("cpu") or {}).items():  # the agent's tree last used CPU then
        files[n] = replace(files.get(n, make_files(n)), cpu_active=_time(when, now))
    for n, text in (spec.get("screen") or {}).items():
        files[n] = replace(files.get(n, make_files(n)), screen=text)
    for n, facts in (spec.get("hooks") or {}).items():
        timed = {k: _time(v, now) if k in ("last", "open_since") else v for k, v in facts.items()}
        files[n] = replace(files.get(n, make_files(n)), hooks=HookFacts(**timed))
    states = []
    for name, st in (spec.get("states") or {}).items():
        st = st or {}
        who = worker_or_name(name)
        assert who is not None
        kwargs = {}
        if "branch" in st or "base" in st:
            w = desired.workers[name]
            kwargs["placement"] = placement_hash(
                w.repo, st.get("branch", w.branch), st.get("base", w.base)
            )
        elif "placement" in st:
            kwargs["placement"] = (
                "stale-placement" if st["placement"] == "stale" else st["placement"]
            )
        for key in ("published", "pr_url", "publish_error"):
            if key in st:
                kwargs[key] = st[key]
        if "publish_errors" in st:
            kwargs["publish_errors"] = int(st["publish_errors"])
        for key in ("stop_sent_at", "error_at", "publish_error_at"):
            if key in st:
                kwargs[key] = _time(st[key], now)
        if st.get("taken_over"):
            kwargs["taken_over"] = True
        if "costs" in st:
            kwargs["costs"] = dict(st["costs"])
        if "errors" in st:
            kwargs["errors"] = int(st["errors"])
            kwargs["error"] = st.get("error", "create-worktree: git worktree add: fatal: boom")
            kwargs["error_spec"] = (
                "stale" if st.get("error_spec") == "stale" else error_spec(desired.workers[name])
            ) if name in desired.workers else ""
        made = (
            make_state(
                who,
                st.get("phase", "Running"),
                st.get("stage"),
                int(st.get("attempt", 1)),
                restarts=int(st.get("restarts", 0)),
                reason=st.get("reason", ""),
                backoff_until=_time(st.get("backoff_until"), now),
                attempt_started_at=_time(st.get("attempt_started_at"), now),
                stage_started_at=_time(st.get("stage_started_at"), now),
                changed=st.get("changed", ()),
                **kwargs,
            )
        )
        states.append(replace(made, base=st["base"]) if "base" in st else made)
    observed = make_observed(panes, files, states, missing_repos=spec.get("missing_repos", ()))
    timed = ("until", "probe_started")
    accounts = {
        name: AccountLimit(**{k: _time(v, now) if k in timed else v for k, v in acct.items()})
        for name, acct in (spec.get("accounts") or {}).items()
    }
    return replace(observed, accounts=accounts)


# -- matching ----------------------------------------------------------------------


def _expect(item: str | dict[str, Any], now: float) -> dict[str, Any]:
    """An expected action as a dict of the fields to compare."""
    if isinstance(item, dict):
        want = dict(item)
        if "backoff_until" in want:
            want["backoff_until"] = _time(want["backoff_until"], now)
        return want
    text, _, phase = item.partition("->")
    tokens = text.split()
    want: dict[str, Any] = {"verb": tokens[0]}
    if "restart" in tokens[1:]:
        want["restart"] = True
        tokens = [t for t in tokens if t != "restart"]
    for key, tok in zip(("worker", "stage", "attempt"), tokens[1:], strict=False):
        if tok != "-":
            want[key] = int(tok) if key == "attempt" else tok
    if phase.strip():
        want["phase"] = phase.strip()
    return want


def _matches(a: Action, want: dict[str, Any]) -> bool:
    for key, value in want.items():
        if key == "verb":
            ok = a.verb is Verb(value)
        elif key == "phase":
            ok = a.phase is Phase(value)
        elif key == "reason":
            ok = str(value) in a.reason
        elif key == "reason_startswith":
            ok = a.reason.startswith(str(value))
        elif key in ("worker", "stage", "attempt", "restart", "restarts", "backoff_until", "force"):
            ok = getattr(a, key) == value
        else:
            raise ValueError(f"unknown key in expected action: {key}")
        if not ok:
            return False
    return True


def _same(got: tuple[Action, ...], want: list[dict[str, Any]]) -> bool:
    return len(got) == len(want) and all(_matches(a, w) for a, w in zip(got, want, strict=True))


def _report(title: str, got: tuple[Action, ...], want: list[Any]) -> str:
    lines = [f"{title} GOT:"] + [f"  {describe(a)}" for a in got] + [f"{title} WANT:"]
    lines += [f"  {w}" for w in want]
    return "\n".join(lines)


def _status_report(p: Plan) -> str:
    return "STATUSES:\n" + "\n".join(
        f"  {n}: {s.phase.value} ({s.reason})" for n, s in p.statuses.items()
    )


# -- the test -----------------------------------------------------------------------


def _params() -> list[Any]:
    out = []
    for path in CASE_FILES:
        case = yaml.safe_load(path.read_text())
        marks = []
        if case.get("xfail"):
            marks.append(pytest.mark.xfail(strict=True, reason=case["xfail"]))
        out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


def check_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    now = float(case.get("now", NOW))
    desired = build_desired(case.get("desired") or {})
    observed = build_observed(case.get("observed") or {}, desired, now)
    result = plan(
        desired,
        observed,
        now,
        host=case.get("host", HOST),
        allow_mass_prune=bool(case.get("allow_mass_prune", False)),
        approved=frozenset(case.get("approved") or ()),
    )
    want = [_expect(x, now) for x in case["actions"] or []]
    problems = []
    if not _same(result.actions, want):
        problems.append(_report("ACTIONS", result.actions, case["actions"] or []))
    if "blocked" in case:
        want_blocked = [_expect(x, now) for x in case["blocked"] or []]
        if not _same(result.blocked, want_blocked):
            problems.append(_report("BLOCKED", result.blocked, case["blocked"] or []))
    for name, phase in (case.get("phases") or {}).items():
        got = result.statuses.get(name)
        if phase is None and got is not None:
            problems.append(f"PHASE {name}: GOT {got.phase.value}, WANT no status")
        elif phase is not None and (got is None or got.phase is not Phase(phase)):
            problems.append(f"PHASE {name}: GOT {got and got.phase.value}, WANT {phase}")
    for name, text in (case.get("status_reasons") or {}).items():
        got = result.statuses.get(name)
        if got is None or text not in got.reason:
            problems.append(f"STATUS REASON {name}: GOT {got and got.reason!r}, WANT ~{text!r}")
    if "prune" in case and [result.prune_count, result.prune_total] != list(case["prune"]):
        problems.append(
            f"PRUNE: GOT {[result.prune_count, result.prune_total]}, WANT {case['prune']}"
        )
    if problems:
        pytest.fail(
            f"{path.name}: {case.get('desc', '')}\n"
            + "\n".join(problems)
            + "\n"
            + _status_report(result),
            pytrace=False,
        )


@pytest.mark.parametrize("path", _params())
def test_case(path: Path) -> None:
    check_case(path)


def test_every_case_has_actions_and_a_description() -> None:
    assert CASE_FILES, "no case files found"
    for path in CASE_FILES:
        case = yaml.safe_load(path.read_text())
        assert "actions" in case, f"{path.name}: no 'actions'"
        assert case.get("desc"), f"{path.name}: no 'desc'"
