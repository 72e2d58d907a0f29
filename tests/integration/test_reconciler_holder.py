"""Whether a reconciler holds state/.lock: a dead holder is known without the lock table.

Real processes and a real flock: a child takes the lock as a reconciler does,
and status sees it held while the child lives and free once it is gone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reconciler.loop.reconciler_info import holder_gone, lock_is_held, reconciler_status
from reconciler.loop.state_store import LockHeldBy, reconciler_lock

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from reconciler.loop.state_store import reconciler_lock
    with reconciler_lock(Path(sys.argv[1]), watch=True):
        print("held", flush=True)
        time.sleep(60)
""")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_a_pid_of_this_host_that_is_gone_is_proof() -> None:
    here = socket.gethostname()
    gone = dead_pid()
    assert holder_gone({"pid": gone, "host": here})
    assert not holder_gone({"pid": os.getpid(), "host": here})  # alive
    assert not holder_gone({"pid": gone, "host": f"{here}-elsewhere"})  # not ours to check
    assert not holder_gone({"pid": "12", "host": here})
    assert not holder_gone({})


def test_status_sees_a_live_holder_and_not_a_dead_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    env: dict[str, Any] = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(state)], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        info = reconciler_status(state)
        assert info["running"] is True
        assert (info["pid"], info["watch"]) == (holder.pid, True)
    finally:
        holder.kill()
        holder.wait()
    # The file still names the holder; it is gone, and so is its flock.
    assert f'"pid": {holder.pid}' in (state / ".lock").read_text()
    info = reconciler_status(state)
    assert info["running"] is False
    assert info["pid"] is None


PROBER = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    print("probing", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def test_asking_writes_nothing_and_leaves_the_lock_free(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    assert reconciler_status(state)["running"] is False  # no lock file: none made
    assert list(state.iterdir()) == []
    with reconciler_lock(state):
        before = (state / ".lock").read_bytes()
    assert lock_is_held(state / ".lock") is False
    assert (state / ".lock").read_bytes() == before
    with reconciler_lock(state):  # the probe gave its shared lock back
        pass


def test_a_reconciler_starting_during_a_probe_waits_it_out(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with reconciler_lock(state):
        pass
    for seconds, takes in ((0.02, True), (5.0, False)):
        prober = subprocess.Popen([sys.executable, "-c", PROBER, str(state / ".lock"),
                                   str(seconds)], stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert prober.stdout is not None and prober.stdout.readline().strip() == "probing"
            if takes:  # a probe of microseconds in practice; 20 ms here, within the tries
                with reconciler_lock(state):
                    pass
            else:
                with pytest.raises(LockHeldBy), reconciler_lock(state):
                    pass
        finally:
            prober.kill()
            prober.wait()
