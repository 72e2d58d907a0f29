"""limits: the pure helpers the planner table cases (76-84) do not pin one by one.

``worker_cost`` sums what the CLI reported over attempts (``total_cost_usd``
counts one process only); ``limit_pause`` says when a new usage-limit
rejection lifts.
"""

from __future__ import annotations

import pytest

from reconciler.core.claude_stream import StreamFacts
from reconciler.core.limits import attempt_key, limit_pause, reset_from_text, worker_cost
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


# -- the reset a usage-limit message names -------------------------------------------------

DAY = 86_400.0


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("resets 4:11pm (UTC)", DAY + 3600, DAY + 16 * 3600 + 11 * 60),  # later today
        ("resets 4:11pm (UTC)", DAY + 17 * 3600, 2 * DAY + 16 * 3600 + 11 * 60),  # tomorrow
        ("resets 12am (UTC)", DAY + 3600, 2 * DAY),  # midnight
        ("resets 12pm (UTC)", DAY + 3600, DAY + 12 * 3600),  # noon
        ("resets at 17:30 (UTC)", DAY, DAY + 17.5 * 3600),
        ("resets 9am (Europe/Paris)", DAY, DAY + 8 * 3600),  # CET is UTC+1 in January
        ("Claude AI usage limit reached|1767225600", DAY, 1767225600.0),
    ],
)
def test_reset_named_in_a_limit_message(text: str, now: float, expected: float) -> None:
    assert reset_from_text(f"You've hit your limit · {text}", now) == expected


@pytest.mark.parametrize(
    "text",
    ["API Error: Request rejected (429)", "resets 25:00 (UTC)", "resets 4pm (Mars/Olympus)"],
)
def test_no_reset_when_the_message_names_none_or_a_bad_one(text: str) -> None:
    assert reset_from_text(text, DAY) is None
