"""The process driver against real process trees (``sh -c`` in sessions of their own)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator

import psutil
import pytest

from reconciler.core.errors import DriverError
from reconciler.drivers import proc

Retry = Callable[..., object]

PY = shlex.quote(sys.executable)
SLEEP = "os.execvp('sleep', ['sleep', '100'])"
# A child that leaves the pane's process group (as ``setsid`` does), then sleeps.
SETSID_SLEEP = f"{PY} -c " + shlex.quote(f"import os; os.setsid(); {SLEEP}")
# The same, deaf to SIGTERM.
DEAF = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"
STUBBORN_SETSID_SLEEP = f"{PY} -c " + shlex.quote(
    f"import os, signal; {DEAF}; os.setsid(); {SLEEP}"
)
# A shell loop of about a quarter of a CPU second (dash), run in a subshell.
BUSY = "(i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done)"


class Trees:
    """Starts ``sh -c`` trees as session leaders; kills and reaps them all afterwards."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        self.adopted: list[psutil.Process] = []

    def start(self, script: str, *, stdout: int | None = None) -> subprocess.Popen[bytes]:
        popen = subprocess.Popen(["sh", "-c", script], start_new_session=True, stdout=stdout)
        self.started.append(popen)
        return popen

    def adopt(self, pids: Iterable[int]) -> None:
        """Remember processes outside the trees' groups, to kill them afterwards."""
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.adopted.append(psutil.Process(pid))

    def cleanup(self) -> None:
        for popen in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
        for process in self.adopted:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        for popen in self.started:
            popen.wait(timeout=10)


@pytest.fixture
def trees() -> Iterator[Trees]:
    made = Trees()
    yield made
    made.cleanup()


def family(pid: int) -> dict[int, int]:
    """The live descendants of ``pid``: pid -> process group."""
    found: dict[int, int] = {}
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                if child.status() != psutil.STATUS_ZOMBIE:
                    found[child.pid] = os.getpgid(child.pid)
    return found


def settled(
    pid: int, count: int, left: int, group: int | None = None
) -> Callable[[], dict[int, int] | None]:
    """A probe: ``pid``'s live descendants once there are ``count``, ``left`` of them
    outside process group ``group`` (default ``pid``), every command exec'd."""

    def probe() -> dict[int, int] | None:
        kids = family(pid)
        names = []
        for child in kids:
            with contextlib.suppress(psutil.NoSuchProcess):
                names.append(psutil.Process(child).name())
        outside = [p for p, pgid in kids.items() if pgid != (group or pid)]
        ok = len(kids) == count and len(outside) == left and not any("python" in n for n in names)
        return kids if ok else None

    return probe


def zombie(pid: int) -> Callable[[], bool]:
    return lambda: psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_signal_tree_reaches_the_group_and_a_child_that_left_it(
    trees: Trees, retry_until: Retry
) -> None:
    popen = trees.start(f"{SETSID_SLEEP} & sleep 100 & wait")
    kids = retry_until(settled(popen.pid, count=2, left=1), message="two children, one setsid")
    assert isinstance(kids, dict)
    trees.adopt(list(kids))

    sent = proc.signal_tree(popen.pid, signal.SIGTERM)

    assert sorted(sent) == sorted([popen.pid, *kids])
    retry_until(lambda: not any(proc.pid_alive(p) for p in [popen.pid, *kids]), message="tree dead")
    assert not proc.tree_alive(popen.pid)
    assert proc.signal_tree(popen.pid, signal.SIGTERM) == []


def test_a_zombie_leader_is_dead_though_its_group_exists(trees: Trees, retry_until: Retry) -> None:
    popen = trees.start("exit 0")  # not waited for: it stays a zombie, its group with it
    retry_until(zombie(popen.pid), message="leader is a zombie")
    os.killpg(popen.pid, 0)  # the kernel still knows the group: killpg alone would say alive

    assert proc.pid_alive(popen.pid) is False
    assert proc.tree_alive(popen.pid) is False
    assert proc.signal_tree(popen.pid, signal.SIGTERM) == []
    assert proc.stop_process_group(popen.pid, grace=0.1) is False
    assert proc.tree_cpu_seconds(popen.pid) is None

    popen.wait(timeout=10)  # reaped: now nothing at all is left
    assert proc.pid_alive(popen.pid) is False
    assert proc.tree_alive(popen.pid) is False
    assert proc.signal_tree(popen.pid, signal.SIGKILL) == []
    assert proc.tree_cpu_seconds(popen.pid) is None


def test_a_group_outlives_its_leader(trees: Trees, retry_until: Retry) -> None:
    # The leader exits at once; a member of its group lives on, with a child
    # that left the group: it is found below the member, no longer below the leader.
    popen = trees.start(f"({SETSID_SLEEP} & wait) & echo $!; exit 0", stdout=subprocess.PIPE)
    assert popen.stdout is not None
    member = int(popen.stdout.readline())
    kids = retry_until(settled(member, count=1, left=1, group=popen.pid), message="setsid child")
    assert isinstance(kids, dict)
    trees.adopt([member, *kids])
    retry_until(zombie(popen.pid), message="leader is a zombie")

    assert proc.pid_alive(popen.pid) is False
    assert proc.tree_alive(popen.pid) is True  # its orphaned member still runs
    assert proc.signal_tree(popen.pid, signal.SIGTERM) == [member, *kids]
    retry_until(lambda: not proc.tree_alive(popen.pid), message="group dead")
    retry_until(lambda: not any(proc.pid_alive(p) for p in kids), message="setsid child dead")


def test_stop_process_group_kills_what_ignores_term(trees: Trees, retry_until: Retry) -> None:
    # The outer sh dies on SIGTERM; a member of its group and a child that left
    # the group ignore it. The latter is reparented once sh dies, so only the
    # list taken before SIGTERM still leads to it.
    deaf_member = "(trap '' TERM; exec sleep 100)"
    popen = trees.start(f"{deaf_member} & {STUBBORN_SETSID_SLEEP} & wait")
    kids = retry_until(settled(popen.pid, count=2, left=1), message="two children, one setsid")
    assert isinstance(kids, dict)
    trees.adopt(list(kids))

    started = time.monotonic()
    assert proc.stop_process_group(popen.pid, grace=0.5) is True
    assert time.monotonic() - started >= 0.5  # SIGTERM was not enough: SIGKILL followed
    assert [p for p in [popen.pid, *kids] if proc.pid_alive(p)] == []
    assert proc.stop_process_group(popen.pid) is False


def test_tree_cpu_seconds_counts_live_and_finished_descendants(
    trees: Trees, retry_until: Retry
) -> None:
    # A finished subshell's CPU time is counted through its parent (which then
    # becomes sleep): the root itself spends next to nothing.
    finished = trees.start(f"{BUSY}; exec sleep 100")
    retry_until(lambda: psutil.Process(finished.pid).name() == "sleep", message="busy part done")
    own = psutil.Process(finished.pid).cpu_times()
    seconds = proc.tree_cpu_seconds(finished.pid)
    assert seconds is not None
    assert seconds >= 0.1 > own.user + own.system

    # A live busy child: the tree's figure grows while the parent waits.
    busy = trees.start("while :; do :; done & wait")
    first = proc.tree_cpu_seconds(busy.pid)
    assert first is not None
    retry_until(lambda: (proc.tree_cpu_seconds(busy.pid) or 0) >= first + 0.2, message="grows")
    waiting = psutil.Process(busy.pid).cpu_times()
    assert waiting.user + waiting.system < 0.1


def test_tree_cpu_by_root_measures_every_tree_in_one_sweep(
    trees: Trees, retry_until: Retry, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy = trees.start("while :; do :; done & wait")
    idle = trees.start("sleep 100 & wait")
    gone = trees.start("exit 0")
    gone.wait()
    sweeps: list[object] = []
    real = psutil.process_iter
    monkeypatch.setattr(psutil, "process_iter", lambda *a, **k: sweeps.append(a) or real(*a, **k))
    first = proc.tree_cpu_by_root([busy.pid, idle.pid, gone.pid])
    assert len(sweeps) == 1  # one walk over the processes, whatever the number of trees
    assert set(first) == {busy.pid, idle.pid}  # the one that ended is not measured

    def later() -> dict[int, float] | None:
        now = proc.tree_cpu_by_root([busy.pid, idle.pid])
        return now if now[busy.pid] >= first[busy.pid] + 0.3 else None

    grown = retry_until(later, message="the busy tree's figure grows")
    assert grown[idle.pid] - first[idle.pid] < 0.1  # the sleeping one barely moves
    assert grown[busy.pid] == pytest.approx(proc.tree_cpu_seconds(busy.pid), abs=0.5)


def test_signal_tree_refuses_our_own_group_and_init(retry_until: Retry) -> None:
    # SIGCONT: were the guard missing, our own group would get a harmless signal.
    with pytest.raises(DriverError, match=r"^kill -CONT -0: not a process group"):
        proc.signal_tree(0, signal.SIGCONT)
    with pytest.raises(DriverError, match=r"^kill -CONT -1: not a process group"):
        proc.signal_tree(1, signal.SIGCONT)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child as another user")
def test_a_group_we_may_not_signal_is_a_driver_error(trees: Trees) -> None:
    popen = trees.start("exec sleep 100")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # as nobody, signal root's group; report the outcome through the pipe
        outcome = "no error"
        try:
            os.setuid(65534)
            proc.signal_tree(popen.pid, signal.SIGTERM)
        except DriverError as err:
            outcome = str(err)
        except (OSError, psutil.Error) as err:  # anything but the DriverError expected
            outcome = repr(err)
        finally:
            os.write(write, outcome.encode())
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        outcome = pipe.read()
    assert outcome.startswith(f"kill -TERM -{popen.pid}: ")
    assert proc.pid_alive(popen.pid)
