"""limits: the pure helpers the planner table cases (76-84) do not pin one by one.

``worker_cost`` sums what the CLI reported over attempts (``total_cost_usd``
counts one process only); ``limit_pause`` says when a new usage-limit
rejection lifts.
"""

from __future__ import annotations

import pytest

from reconciler.core.claude_stream import StreamFacts
from reconciler.core.limits import attempt_key, limit_pause, worker_cost
from reconciler.core.model import AccountLimit, WorkerState
from reconciler.core.observed import Observed, WorkerFiles

NOW = 1_000_000.0


def files(cost: float | None) -> WorkerFiles:
    return WorkerFiles(stream=StreamFacts(cost_usd=cost, ended=cost is not None))


def observed(**accounts: AccountLimit) -> Observed:
    return Observed(tmux_up=True, panes=(), worktrees={}, files={}, states={}, accounts=accounts)


def test_attempt_key_files_a_cost_under_its_stage_and_attempt() -> None:
    assert attempt_key("build", 2) == "build#2"
    state = WorkerState("w", stage="build", attempt=2, costs={attempt_key("build", 2): 0.5})
    assert worker_cost(state, files(0.5)) == 0.5  # the running attempt is the one filed


# -- worker_cost --------------------------------------------------------------------------


def test_nothing_reported_is_none_not_zero() -> None:
    assert worker_cost(None, None) is None
    assert worker_cost(WorkerState("w"), None) is None
    assert worker_cost(WorkerState("w", stage="build", attempt=1), files(None)) is None
    assert worker_cost(WorkerState("w"), WorkerFiles()) is None


def test_the_costs_of_earlier_attempts_are_summed() -> None:
    state = WorkerState("w", stage="test", attempt=1, costs={"build#1": 0.5, "build#2": 0.25})
    assert worker_cost(state, None) == 0.75


def test_the_running_attempt_adds_what_its_stream_said_so_far() -> None:
    state = WorkerState("w", stage="build", attempt=3, costs={"build#1": 0.5, "build#2": 0.25})
    assert worker_cost(state, files(0.125)) == 0.875


def test_an_attempt_already_filed_is_not_counted_twice() -> None:
    state = WorkerState("w", stage="build", attempt=2, costs={"build#1": 0.5, "build#2": 0.25})
    assert worker_cost(state, files(0.25)) == 0.75


def test_a_first_attempt_that_cost_nothing_is_known_to_cost_nothing() -> None:
    assert worker_cost(WorkerState("w", stage="build", attempt=1), files(0.0)) == 0.0


def test_a_stream_without_a_worker_state_is_not_counted() -> None:
    assert worker_cost(None, files(0.5)) is None


# -- limit_pause --------------------------------------------------------------------------


def test_the_reset_the_cli_gave_wins() -> None:
    prev = AccountLimit(until=NOW - 10, pause=900, reason="usage limit")
    assert limit_pause(observed(claude=prev), "claude", NOW, 600, 7200, NOW + 3000) == NOW + 3000


@pytest.mark.parametrize("resets_at", [None, NOW, NOW - 1])
def test_without_a_reset_to_come_the_first_pause_is_the_configured_one(
    resets_at: float | None,
) -> None:
    assert limit_pause(observed(), "claude", NOW, 600, 7200, resets_at) == NOW + 600


def test_the_pause_doubles_while_rejections_go_on_up_to_the_maximum() -> None:
    pauses = []
    accounts: dict[str, AccountLimit] = {}
    for _ in range(6):
        until = limit_pause(observed(**accounts), "claude", NOW, 600, 7200, None)
        pauses.append(until - NOW)
        accounts["claude"] = AccountLimit(until=until, pause=until - NOW, reason="again")
    assert pauses == [600, 1200, 2400, 4800, 7200, 7200]


def test_another_accounts_pause_does_not_double_this_one() -> None:
    other = AccountLimit(until=NOW + 10, pause=3600, reason="usage limit")
    assert limit_pause(observed(codex=other), "claude", NOW, 600, 7200, None) == NOW + 600
