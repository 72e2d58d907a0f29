"""notify.command under a real watcher: real fake agents, real passes, a real command.

tests/agents/notify.sh appends one line per call (ORCH_* env, then its
rendered arguments) to a file, and can hang like a command that never ends.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)
WatchThread = Any
Retry = Callable[..., Any]


def configure(fleet: Fleet, out: Path, *, seconds: int = 0, timeout: str = "10s") -> None:
    """Fast passes, no report commits, notify.command writing to ``out``."""
    script = str(fleet.agents_dir / "notify.sh")
    command = ["sh", script, str(out), str(seconds), "{{ worker }} {{ phase }} ({{ fleet }})"]
    fleet.settings("resync: 1s, maxPruneFraction: 0.5", extra=f"""\
        fleet:
          name: notif
        notify:
          command: {json.dumps(command)}
          timeout: {timeout}
        """)


def lines(out: Path) -> list[str]:
    return out.read_text().splitlines() if out.exists() else []


def more_passes(watch: WatchThread, retry_until: Retry, count: int = 3) -> None:
    seen = len(watch.passes)
    retry_until(lambda: len(watch.passes) >= seen + count, seconds=30, message="passes")


def test_failed_succeeded_and_settled_are_told_once_even_by_a_new_watcher(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry, tmp_path: Path
) -> None:
    out = tmp_path / "told.txt"
    configure(fleet, out)
    fleet.base("signal.sh", agents={"crasher": "crash.sh"})
    fleet.workers({"good": {}, "bad": {"agent": "crasher", "restartPolicy": {"maxRestarts": 0}}})
    watch = watch_thread()
    retry_until(lambda: len(lines(out)) >= 3, seconds=60, message="three notifications")
    more_passes(watch, retry_until)
    watch.close()
    told = lines(out)
    assert sorted(told) == [
        "bad|Failed|crashed: exit 3|notif|bad Failed (notif)",
        "good|Succeeded|all stages done|notif|good Succeeded (notif)",
        "|Settled|1 Failed, 1 Succeeded|notif| Settled (notif)",
    ], told

    again = watch_thread()  # state/notify.json remembers what was told
    more_passes(again, retry_until)
    again.close()
    assert lines(out) == told


def test_a_hanging_command_blocks_no_pass_and_is_killed_after_its_timeout(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry, tmp_path: Path
) -> None:
    out = tmp_path / "told.txt"
    configure(fleet, out, seconds=30, timeout="5s")
    fleet.base("crash.sh")
    fleet.workers({"w1": {"restartPolicy": {"maxRestarts": 0}}})
    watch = watch_thread()
    pidfile = Path(f"{out}.pid")
    pid = int(retry_until(lambda: pidfile.exists() and pidfile.read_text().strip(), seconds=60))
    more_passes(watch, retry_until, 2)  # while it sleeps: 1s resync, never held up
    assert _alive(pid), "the command ended before its timeout"
    retry_until(lambda: not _alive(pid), seconds=20, message="the hanging command killed")
    notify = lambda: [i for i in watch.items if getattr(i, "verb", "") == "notify"]  # noqa: E731
    failed = retry_until(lambda: len(notify()) == 2 and notify(), seconds=10)
    watch.close()
    assert all(not e.ok and "timed out" in e.error for e in failed), failed
    events = (fleet.root / "state" / "events.jsonl").read_text().splitlines()
    recorded = [json.loads(line) for line in events]
    timed_out = [e["worker"] for e in recorded if e["verb"] == "notify" and not e["ok"]]
    assert sorted(timed_out) == ["", "w1"]  # the worker's notice and the fleet's (settled)


def test_a_command_that_cannot_run_is_an_event_not_an_error(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry, tmp_path: Path
) -> None:
    fleet.settings("resync: 1s, maxPruneFraction: 0.5",
                   extra=f'notify: {{command: [{tmp_path}/no-such-program, "{{{{ worker }}}}"]}}')
    fleet.base("crash.sh")
    fleet.workers({"w1": {"restartPolicy": {"maxRestarts": 0}}})
    watch = watch_thread()
    failed = retry_until(
        lambda: [i for i in watch.items if getattr(i, "verb", "") == "notify"], seconds=60
    )
    more_passes(watch, retry_until, 2)
    watch.close()
    assert "exited 127" in failed[0].error and "no-such-program" in failed[0].error, failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_detached_returns_at_once_and_its_wrapper_kills_the_command_after_the_limit(
    tmp_path: Path, retry_until: Retry
) -> None:
    from reconciler.drivers import detached

    pidfile = tmp_path / "pid"
    argv = ["sh", "-c", f'echo $$ > {pidfile}; echo "to stderr $ORCH_X" >&2; exec sleep 30']
    handle = detached.start(argv, {"ORCH_X": "x1"}, 1.0, tmp_path)
    assert handle.poll() is None  # started, not waited for
    pid = int(retry_until(lambda: pidfile.exists() and pidfile.read_text().strip()))
    ended = retry_until(handle.poll, seconds=20, message="the wrapper's exit")
    assert ended == (detached.TIMED_OUT, "killed after 1s")
    assert not _alive(pid)
    quick = detached.start(
        ["sh", "-c", 'echo "bad $ORCH_X" >&2; exit 3'], {"ORCH_X": "x2"}, 5, tmp_path
    )
    assert retry_until(quick.poll, seconds=20) == (3, "bad x2")


def test_a_worker_waiting_for_a_person_is_told_then_answered_with_orch_send(
    fleet: Fleet, watch_thread: Callable[[], WatchThread], retry_until: Retry, tmp_path: Path
) -> None:
    from test_takeover import interactive_fleet  # tests/integration/test_takeover.py

    out = tmp_path / "told.txt"
    configure(fleet, out)
    interactive_fleet(fleet, "first_run_screen.sh")  # stops at a trust question
    watch = watch_thread()
    retry_until(lambda: any("|NeedsInput|" in x for x in lines(out)), seconds=60,
                message="the NeedsInput notice")  # fmt: skip
    [told] = [x for x in lines(out) if "|NeedsInput|" in x]
    assert told.startswith("w1|NeedsInput|") and "Do you trust the files" in told, told
    assert fleet.cli("send", "w1", "1").returncode == 0
    retry_until(lambda: len(lines(out)) >= 3, seconds=60, message="Succeeded and Settled")
    more_passes(watch, retry_until)
    watch.close()
    told_all = [x.split("|")[:2] for x in lines(out)]
    # Succeeded and Settled are told in one pass by two detached commands: either may write first.
    assert told_all[0] == ["w1", "NeedsInput"], lines(out)
    assert sorted(told_all[1:]) == [["", "Settled"], ["w1", "Succeeded"]], lines(out)
