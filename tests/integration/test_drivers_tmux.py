"""The tmux and process drivers against a real tmux server on a private socket."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from reconciler.core.errors import DriverError
from reconciler.drivers import proc
from reconciler.drivers.tmux import Tmux

SESSION = "orch"
SEP = "|||"
FIELDS = (
    "session_name",
    "window_index",
    "window_name",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "pane_dead_signal",
    "@orch-worker",
    "@orch-attempt",
    "pid",
)
FMT = SEP.join(f"#{{{field}}}" for field in FIELDS)

Retry = Callable[..., object]


def _rows(tmux: Tmux) -> list[dict[str, str]]:
    text = tmux.list_panes(FMT)
    assert text is not None
    return [dict(zip(FIELDS, line.split(SEP), strict=True)) for line in text.splitlines()]


def panes(tmux: Tmux) -> dict[str, dict[str, str]]:
    """The panes by ``session:index``, each a dict of FIELDS.

    As reconciler/loop/observe.py does: a dead pane whose exit tmux has not collected
    yet gets the server a SIGCHLD (Tmux.reap), then the panes are listed again.
    """
    rows = _rows(tmux)
    lost = [r for r in rows if r["pane_dead"] == "1" and not r["pane_dead_status"]
            and not r["pane_dead_signal"]]  # fmt: skip
    if lost:
        Tmux.reap(int(lost[0]["pid"]))
        rows = _rows(tmux)
    return {f"{row['session_name']}:{row['window_index']}": row for row in rows}


def dead_pane(tmux: Tmux, target: str) -> Callable[[], dict[str, str] | None]:
    """A probe for ``retry_until``: the pane's row once it is dead and its end is known.

    Measured on tmux 3.3a: ``pane_dead`` turns 1 when the pty closes, which can be
    a moment before tmux reaps the process and fills ``pane_dead_status`` (or
    ``pane_dead_signal``).
    """

    def probe() -> dict[str, str] | None:
        row = panes(tmux).get(target)
        if row and row["pane_dead"] == "1" and (row["pane_dead_status"] or row["pane_dead_signal"]):
            return row
        return None

    return probe


def log_contains(path: Path, text: str) -> Callable[[], bool]:
    return lambda: path.exists() and text in path.read_text()


@pytest.fixture
def tmux(tmux_socket: str) -> Tmux:
    server = Tmux(tmux_socket)
    assert server.ensure_session(SESSION) is True
    return server


def test_no_server_is_none_not_an_error(tmux_socket: str) -> None:
    tmux = Tmux(tmux_socket)
    assert tmux.list_panes(FMT) is None
    tmux.kill_window(f"{SESSION}:1")
    tmux.kill_server()


def test_ensure_session_creates_dashboard_once(tmux_socket: str) -> None:
    tmux = Tmux(tmux_socket)
    assert tmux.ensure_session(SESSION) is True
    assert tmux.ensure_session(SESSION) is False
    rows = panes(tmux)
    assert list(rows) == [f"{SESSION}:0"]
    assert rows[f"{SESSION}:0"]["window_name"] == "dashboard"
    assert tmux.run("show-options", "-gv", "default-shell") == ["/bin/sh"]


def test_run_raises_driver_error_with_subcommand(tmux: Tmux) -> None:
    with pytest.raises(DriverError, match=r"^tmux kill-window: can.t find session"):
        tmux.run("kill-window", "-t", "nosuch:9")


def test_start_window_keeps_exit_status_options_and_log(
    tmux: Tmux, tmp_path: Path, retry_until: Retry
) -> None:
    log = tmp_path / "logs" / "w1" / "run.log"
    tmux.start_window(
        SESSION,
        1,
        "w1",
        str(tmp_path),
        "sh -c 'echo $GREETING; exit 3'",
        {"GREETING": "hi"},
        str(log),
        {"@orch-worker": "w1", "@orch-attempt": "1"},
    )
    row = retry_until(dead_pane(tmux, f"{SESSION}:1"), message="pane w1 dead")
    assert isinstance(row, dict)
    assert (row["pane_dead_status"], row["@orch-worker"], row["@orch-attempt"]) == ("3", "w1", "1")
    retry_until(log_contains(log, "hi"), 20, message="log holds 'hi'")
    assert "hi" in tmux.capture(f"{SESSION}:1", 50)

    tmux.set_window_options(f"{SESSION}:1", {"@orch-attempt": "2", "@orch-worker": "-w1;"})
    row = panes(tmux)[f"{SESSION}:1"]
    assert (row["@orch-attempt"], row["@orch-worker"]) == ("2", "-w1;")


def test_respawn_after_stop_records_new_status_and_log(
    tmux: Tmux, tmp_path: Path, retry_until: Retry
) -> None:
    target = f"{SESSION}:2"
    first, second = tmp_path / "run-1.log", tmp_path / "run-2.log"
    tmux.start_window(
        SESSION, 2, "w2", str(tmp_path), "echo first; exec sleep 100", {}, str(first), {}
    )
    retry_until(log_contains(first, "first"), message="first run started")
    pid = int(panes(tmux)[target]["pane_pid"])

    assert proc.stop_process_group(pid, grace=5.0) is True
    assert not proc.pid_alive(pid)
    retry_until(dead_pane(tmux, target), message="stopped pane dead")

    tmux.respawn_window(
        target, str(tmp_path), "echo $ROUND; exit 5", {"ROUND": "second"}, str(second),
        {"@orch-attempt": "2"},
    )  # fmt: skip
    row = retry_until(
        lambda: (r := panes(tmux)[target])["pane_dead_status"] == "5" and r,
        message="respawned pane exits with 5",
    )
    assert isinstance(row, dict)
    assert row["@orch-attempt"] == "2"
    retry_until(log_contains(second, "second"), message="second log written")
    assert "second" not in first.read_text()


def test_stop_process_group_leaves_no_survivors(
    tmux: Tmux, tmp_path: Path, retry_until: Retry
) -> None:
    # Two background children in the pane's group, one in a group of its own.
    own_group = "setsid sleep 100 & " if shutil.which("setsid") else ""
    command = f"sh -c '{own_group}sleep 100 & sleep 100 & wait'"
    tmux.start_window(SESSION, 3, "w3", str(tmp_path), command, {}, str(tmp_path / "l"), {})
    pid = int(panes(tmux)[f"{SESSION}:3"]["pane_pid"])
    expected = 4 if own_group else 3  # the outer sh (pane), the inner sh, the sleeps

    def tree() -> set[int]:
        below = psutil.Process(pid).children(recursive=True)
        return {child.pid for child in below if proc.pid_alive(child.pid)}

    family = retry_until(lambda: len(tree()) >= expected and tree(), message="children started")
    assert isinstance(family, set)

    assert proc.stop_process_group(pid, grace=5.0) is True
    survivors = [p for p in (pid, *family) if proc.pid_alive(p)]
    assert survivors == []
    assert proc.stop_process_group(pid) is False  # nothing left to signal


def test_kill_window_missing_is_no_error(tmux: Tmux, tmp_path: Path) -> None:
    tmux.kill_window(f"{SESSION}:7")
    tmux.kill_window("nosuch:1")
    tmux.start_window(
        SESSION, 7, "w7", str(tmp_path), "exec sleep 100", {}, str(tmp_path / "l"), {}
    )
    tmux.kill_window(f"{SESSION}:7")
    assert f"{SESSION}:7" not in panes(tmux)
    tmux.kill_server()
    assert tmux.list_panes(FMT) is None


def test_names_and_paths_with_spaces_quotes_and_hashes(
    tmux: Tmux, tmp_path: Path, retry_until: Retry
) -> None:
    cwd = tmp_path / 'it\'s a "dir" #1'
    cwd.mkdir()
    log = tmp_path / "log's #dir" / "run 1.log"
    name = 'my "win" it\'s #{x};'
    tmux.start_window(SESSION, 4, name, str(cwd), "pwd; exit 0", {"V": "a b;"}, str(log), {})
    row = retry_until(dead_pane(tmux, f"{SESSION}:4"), message="pane 4 dead")
    assert isinstance(row, dict)
    assert (row["window_name"], row["pane_dead_status"]) == (name, "0")
    retry_until(log_contains(log, str(cwd)), message="log holds the start directory")


def test_start_window_in_missing_directory_fails(tmux: Tmux, tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="start directory does not exist"):
        tmux.start_window(SESSION, 5, "w5", str(tmp_path / "nope"), "true", {}, "/dev/null", {})


def test_pane_pid_is_the_live_process_or_none(
    tmux: Tmux, tmp_path: Path, retry_until: Retry
) -> None:
    log = str(tmp_path / "log")
    tmux.start_window(SESSION, 1, "w1", str(tmp_path), "exec sleep 100", {}, log, {})
    tmux.start_window(SESSION, 2, "w2", str(tmp_path), "exit 3", {}, log, {})
    live = int(panes(tmux)[f"{SESSION}:1"]["pane_pid"])
    assert tmux.pane_pid(f"{SESSION}:1") == live
    assert tmux.pane_pid(f"{SESSION}:1.0") == live
    retry_until(dead_pane(tmux, f"{SESSION}:2"), message="pane 2 dead")
    assert tmux.pane_pid(f"{SESSION}:2") is None
    # On tmux 3.3a, display-message alone answers the first two with another pane's pid.
    for gone in (f"{SESSION}:9", f"{SESSION}:1.5", "nosuch:1", "%999", "@999"):
        assert tmux.pane_pid(gone) is None, gone
    tmux.kill_server()
    assert tmux.pane_pid(f"{SESSION}:1") is None


def tmux_clients(socket: str) -> list[int]:
    """This process's live tmux clients on ``socket``."""
    found = []
    for child in psutil.Process().children():
        try:
            if f"-L{socket}" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


def test_a_hung_server_times_out_then_recovers(tmux_socket: str, retry_until: Retry) -> None:
    tmux = Tmux(tmux_socket, timeout=1.0)
    tmux.ensure_session(SESSION)
    server_pid = int(tmux.run("display-message", "-p", "#{pid}")[0])
    os.kill(server_pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(DriverError, match=r"^tmux list-panes: timed out after 1s$"):
            tmux.list_panes(FMT)
        assert time.monotonic() - started < 2.0
        retry_until(lambda: tmux_clients(tmux_socket) == [], message="hung client killed")
    finally:
        os.kill(server_pid, signal.SIGCONT)
    assert list(panes(tmux)) == [f"{SESSION}:0"]


@pytest.mark.parametrize("where", ["HOME/.tmux.conf", "XDG_CONFIG_HOME/tmux/tmux.conf"])
def test_the_users_tmux_conf_is_never_read(tmux_socket: str, where: str) -> None:
    variable, _, rest = where.partition("/")
    conf = Path(os.environ[variable]) / rest
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("set -g @user-conf yes\nset -g base-index 7\n")
    tmux = Tmux(tmux_socket)
    assert tmux.ensure_session(SESSION) is True
    assert tmux.run("show-options", "-gqv", "@user-conf") == []
    assert list(panes(tmux)) == [f"{SESSION}:0"]
