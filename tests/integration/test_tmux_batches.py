"""Many windows open in a few chained tmux calls, each below tmux's command-length limit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.core.errors import DriverError
from reconciler.drivers.tmux import Tmux, WindowSpec
from reconciler.drivers.tmux_argv import CHAIN_BYTES, TMUX_ARGV_LIMIT, packed_size

SESSION = "orch"
WINDOWS = 300


class CountingTmux(Tmux):
    """The real driver; every tmux invocation's argv is kept (nothing is faked)."""

    def __init__(self, socket: str) -> None:
        super().__init__(socket)
        self.calls: list[list[str]] = []

    def _call(self, argv: Sequence[str]) -> tuple[list[str], list[str], int]:
        self.calls.append(list(argv))
        return super()._call(argv)


def spec(tmp_path: Path, i: int) -> WindowSpec:
    name = f"w-{i:04d}"
    options = {"@orch-fleet": "orch", "@orch-worker": name, "@orch-spec": "abc123def456",
               "@orch-stage": "work", "@orch-attempt": "1"}  # fmt: skip
    log = str(tmp_path / "logs" / f"{name}.log")
    return WindowSpec(SESSION, i + 1, name, str(tmp_path), "exec sleep 600",
                      {"ORCH_WORKER": name}, log, options)  # fmt: skip


def test_300_windows_open_in_a_few_calls_below_the_limit(tmux_socket: str, tmp_path: Path) -> None:
    tmux = CountingTmux(tmux_socket)
    tmux.ensure_session(SESSION)
    tmux.calls.clear()
    specs = [spec(tmp_path, i) for i in range(WINDOWS)]
    tmux.start_windows(specs)

    sizes = [packed_size(argv) for argv in tmux.calls]
    assert all(size <= CHAIN_BYTES for size in sizes), sizes
    assert len(sizes) <= math.ceil(sum(sizes) / (CHAIN_BYTES * 0.9)), sizes  # full calls
    assert len(sizes) <= WINDOWS // 10
    fmt = "#{window_index} #{@orch-worker} #{@orch-attempt} #{remain-on-exit} #{pane_dead}"
    rows = (tmux.list_panes(fmt) or "").splitlines()
    got = {r.split()[1]: r.split() for r in rows if len(r.split()) == 5}
    assert len(got) == WINDOWS
    for s in specs:
        index, _, attempt, remain, dead = got[s.name]
        assert (int(index), attempt, remain, dead) == (s.index, "1", "on", "0")


def test_tmux_refuses_one_byte_over_its_limit(tmux_socket: str) -> None:
    """The limit CHAIN_BYTES stays below is tmux's own, measured here."""
    tmux = Tmux(tmux_socket)
    tmux.ensure_session(SESSION)
    base = ["display-message", "-p"]
    fits = "a" * (TMUX_ARGV_LIMIT - packed_size(base) - 1)
    assert tmux.run(*base, fits) == [fits]
    with pytest.raises(DriverError):
        tmux.run(*base, fits + "a")


def test_a_window_too_long_for_any_call_is_refused_before_tmux(
    tmux_socket: str, tmp_path: Path
) -> None:
    tmux = CountingTmux(tmux_socket)
    huge = WindowSpec(SESSION, 1, "w", str(tmp_path), "x" * TMUX_ARGV_LIMIT, {}, "/dev/null", {})
    with pytest.raises(DriverError, match="bytes in one tmux call"):
        tmux.start_windows([huge])
    assert tmux.calls == []
