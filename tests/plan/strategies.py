"""Hypothesis strategies for random fleets and random observed worlds.

Fleets: 1-6 workers (w0..w5) over 1-3 random pipelines, random suspend,
dependsOn only on earlier workers (no cycles), random host placement,
optionally one or two WorkerSets with a parallelism.

Worlds: for every desired worker (and, unless ``from_desired``, for up to two
removed workers r0/r1) a random subset of: a worktree (owner marker, signals
as a realistic prefix of ``.done`` files optionally followed by one
``.failed``), a window (any stage, attempt, alive or dead with any exit,
current or stale @orch-spec), a state (any phase, stage, attempt, restarts,
backoff and start times, current/stale/empty hashes). Plus foreign windows:
untagged ones in the fleet session named like workers, and tagged ones in
another session, some for the name ``ghost`` that exists nowhere else.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import strategies as st
from world import (
    CURRENT,
    NOW,
    SESSION,
    dashboard,
    make_desired,
    make_files,
    make_observed,
    make_pane,
    make_pipeline,
    make_stage,
    make_state,
    make_worker,
)

from reconciler.core.actions import Phase
from reconciler.core.model import DONE_WHEN, Desired
from reconciler.core.observed import Observed

STAGE_NAMES = ("plan", "build", "test", "review")
REMOVED = ("r0", "r1")
GHOST = "ghost"
OTHER_SESSION = "work"
TIMES = (None, NOW, NOW - 10, NOW - 100, NOW - 700, NOW - 1000, NOW - 5000)


@st.composite
def fleets(draw: st.DrawFn, *, placed_here: bool = False) -> Desired:
    """A random valid Desired (``placed_here``: every worker runs on host "a")."""
    pipelines = []
    for i in range(draw(st.integers(1, 3))):
        names = draw(st.lists(st.sampled_from(STAGE_NAMES), min_size=1, max_size=3, unique=True))
        pipelines.append(
            make_pipeline(
                f"p{i}",
                [
                    make_stage(
                        n,
                        done_when=draw(st.sampled_from(DONE_WHEN)),
                        stall_timeout=draw(st.sampled_from((60.0, 900.0))),
                        timeout=draw(st.sampled_from((300.0, 1800.0))),
                    )
                    for n in names
                ],
            )
        )
    n = draw(st.integers(1, 6))
    names = [f"w{i}" for i in range(n)]
    hosts = (None, "a") if placed_here else (None, None, None, "a", "b")
    workers = []
    for i, name in enumerate(names):
        deps = draw(st.lists(st.sampled_from(names[:i]), max_size=2, unique=True)) if i else []
        workers.append(
            make_worker(
                name,
                pipeline=draw(st.sampled_from([p.name for p in pipelines])),
                vars={"v": draw(st.integers(0, 1))},
                branch=draw(st.sampled_from((None, f"feature/{name}"))),
                max_restarts=draw(st.integers(0, 3)),
                backoff_initial=draw(st.sampled_from((5.0, 10.0))),
                backoff_max=60.0,
                suspend=draw(st.sampled_from((False, False, False, True))),
                depends_on=deps,
                host=draw(st.sampled_from(hosts)),
            )
        )
    workers = draw(st.permutations(workers))  # spec order need not follow dependencies
    sets: dict[str, tuple[int | None, list[str]]] = {}
    if draw(st.booleans()):
        order = draw(st.permutations(names))
        cut = draw(st.integers(1, n))
        sets["s1"] = (draw(st.integers(1, 3)), list(order[:cut]))
        if cut < n and draw(st.booleans()):
            sets["s2"] = (draw(st.sampled_from((None, 1, 2))), list(order[cut:]))
    return make_desired(
        workers,
        pipelines=pipelines,
        sets=sets,
        max_prune_fraction=draw(st.sampled_from((0.34, 0.5, 0.67, 1.0))),
        run_unplaced=True if placed_here else draw(st.sampled_from((True, True, False))),
        url=draw(st.sampled_from((None, "https://example.invalid/r.git"))),
    )


@st.composite
def worlds(draw: st.DrawFn, desired: Desired, *, from_desired: bool = False) -> Observed:
    """A random world around ``desired``.

    ``from_desired``: only the workers of ``desired``, with their own placement
    (what a reconciler running ``desired`` could have left), plus foreign windows.
    """
    names = list(desired.workers)
    if not from_desired:
        names += draw(st.lists(st.sampled_from(REMOVED), max_size=2, unique=True))
    panes = []
    files = {}
    states = []
    for name in names:
        w = desired.workers.get(name)
        stages = [s.name for s in desired.pipelines[w.pipeline].stages] if w else ["build", "test"]
        worktree = draw(st.booleans())
        k = draw(st.integers(0, len(stages))) if worktree else 0
        signals = dict.fromkeys(stages[:k], "done")
        if k < len(stages) and worktree and draw(st.integers(0, 4)) == 0:
            signals[stages[k]] = "failed: it broke"
        current = stages[min(k, len(stages) - 1)]
        # coherent: window and state agree with the signals (what orch itself leaves
        # behind); otherwise anything goes (hand-made changes, lost or old state)
        coherent = draw(st.booleans())
        # the window's @orch-spec and the state's run_hashes are written together by
        # start-agent, so they agree: both current, or both from an older spec
        fresh = draw(st.sampled_from((True, True, False)))
        attempt = draw(st.integers(1, 4))
        files[name] = make_files(
            name,
            worktree=worktree,
            signals=signals,
            activity=draw(st.sampled_from(TIMES)),
            marker=draw(st.sampled_from((CURRENT, CURRENT, CURRENT, None))),
        )
        files[name] = replace(files[name], cpu_active=draw(st.sampled_from(TIMES)))
        if draw(st.booleans()):
            status, signal = draw(
                st.sampled_from(
                    (
                        (0, None),
                        (0, None),
                        (1, None),
                        (3, None),
                        (None, 15),
                        (None, 9),
                        (None, None),
                    )
                )
            )
            spec: Any = CURRENT if fresh else draw(st.sampled_from(("stale-spec", None)))
            panes.append(
                make_pane(
                    w or name,
                    current if coherent else draw(st.sampled_from([*stages, None])),
                    attempt if coherent else draw(st.integers(1, 4)),
                    dead=draw(st.booleans()),
                    status=status,
                    signal=signal,
                    spec=spec if w else draw(st.sampled_from(("x", None))),
                )
            )
        if draw(st.booleans()):
            placement = (
                CURRENT
                if from_desired
                else draw(st.sampled_from((CURRENT, CURRENT, CURRENT, "stale-placement", "")))
            )
            hashes = draw(st.sampled_from(("current", "empty") if fresh else ("changed", "empty")))
            phases = [p.value for p in Phase]
            if coherent:
                phases = [
                    "Running",
                    "Running",
                    "Backoff",
                    "Backoff",
                    "Suspended",
                    "Failed",
                    "Succeeded",
                    "Provisioning",
                ]
            states.append(
                make_state(
                    w or name,
                    draw(st.sampled_from(phases)),
                    current if coherent else draw(st.sampled_from([*stages, None])),
                    attempt if coherent else draw(st.integers(0, 4)),
                    restarts=draw(st.integers(0, 4)),
                    # apply writes a reason with every state it saves
                    reason=draw(
                        st.sampled_from(
                            (
                                "new worker",
                                "all stages done",
                                "suspended in spec",
                                "crashed: exit 3; restart in 10s",
                            )
                        )
                    ),
                    backoff_until=draw(st.sampled_from((None, NOW - 1, NOW + 30))),
                    attempt_started_at=draw(st.sampled_from(TIMES)),
                    stage_started_at=draw(st.sampled_from(TIMES)),
                    placement=placement,
                    run_hashes={} if hashes == "empty" else None,
                    changed=draw(
                        st.lists(
                            st.sampled_from(("agent", "pipeline", "vars")), min_size=1, unique=True
                        )
                    )
                    if hashes == "changed"
                    else (),
                )
            )
    everyone = [*names, *REMOVED, GHOST]
    untagged = draw(st.lists(st.sampled_from(everyone), max_size=3))  # in the fleet session
    panes += [make_pane(None, name=n) for n in untagged]
    elsewhere = draw(
        st.lists(  # tagged, but in somebody else's session
            st.tuples(
                st.sampled_from(everyone),
                st.sampled_from(STAGE_NAMES),
                st.integers(1, 3),
                st.booleans(),
            ),
            max_size=3,
        )
    )
    panes += [
        make_pane(n, stage, attempt, dead=dead, status=1, session=OTHER_SESSION, spec="x")
        for n, stage, attempt, dead in elsewhere
    ]
    if draw(st.booleans()):
        panes.append(dashboard(SESSION))
    panes = draw(st.permutations(panes))
    missing = [n for n, r in desired.repos.items() if r.url and draw(st.booleans())]
    return make_observed(panes, files, states, missing_repos=missing)


@st.composite
def scenarios(draw: st.DrawFn, **fleet_kwargs: Any) -> tuple[Desired, Observed]:
    """A random fleet and a random world around it."""
    desired = draw(fleets(**fleet_kwargs))
    return desired, draw(worlds(desired))
