"""New windows open in ONE ``tmux source-file`` call, whatever their number and values.

Against a real tmux on a private socket: a thousand windows in one call, each
value (window name, start directory, command, environment, log path, option)
arriving byte for byte, one bad window failing alone, and the temporary file
gone afterwards.
"""

from __future__ import annotations

import itertools
import re
import shlex
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reconciler.core.errors import DriverError
from reconciler.drivers.tmux import Tmux, WindowSpec

SESSION = "orch"
WINDOWS = 1000
Retry = Callable[..., object]
Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)


class CountingTmux(Tmux):
    """The real driver; every tmux invocation's argv is kept, and the file it sources read.

    Nothing is faked: each call goes to the real server.
    """

    def __init__(self, socket: str) -> None:
        super().__init__(socket)
        self.calls: list[list[str]] = []
        self.files: list[tuple[Path, int, int, list[bytes]]] = []  # path, modes, lines

    def _call(
        self, argv: Sequence[str], timeout: float | None = None
    ) -> tuple[list[str], list[str], int]:
        self.calls.append(list(argv))
        if argv[0] == "source-file":
            path = Path(re.sub(r"\\(.)", r"\1", argv[-1]))  # as glob(3) reads the escapes
            modes = stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode)
            self.files.append((path, *modes, path.read_bytes().split(b"\n")))
        return super()._call(argv, timeout)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temp folder Python hands out, named with glob(3)'s special characters."""
    folder = tmp_path / "tmp [a]*?\\"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


def window(tmp_path: Path, i: int, command: str = "exec sleep 600") -> WindowSpec:
    name = f"w-{i:04d}"
    options = {"@orch-fleet": "orch", "@orch-worker": name, "@orch-spec": "abc123def456",
               "@orch-stage": "work", "@orch-attempt": "1"}  # fmt: skip
    log = str(tmp_path / "logs" / f"{name}.log")
    return WindowSpec(SESSION, i + 1, name, str(tmp_path), command, {"ORCH_WORKER": name},
                      log, options)  # fmt: skip


def test_a_thousand_windows_open_in_one_tmux_call(
    tmux_socket: str, tmp_path: Path, private_tmp: Path, retry_until: Retry
) -> None:
    tmux = CountingTmux(tmux_socket)
    tmux.ensure_session(SESSION)
    tmux.calls.clear()
    command = 'echo "up $ORCH_WORKER"; exec sleep 600'
    specs = [window(tmp_path, i, command) for i in range(WINDOWS)]

    tmux.start_windows(specs)

    assert [argv[0] for argv in tmux.calls] == ["source-file"]
    [(path, file_mode, folder_mode, lines)] = tmux.files
    assert (file_mode, folder_mode) == (0o600, 0o700)
    assert path.parent.parent == private_tmp
    assert len(lines) == WINDOWS + 1 and lines[-1] == b""  # one line a window
    assert list(private_tmp.iterdir()) == []  # removed afterwards
    fmt = "#{window_index} #{@orch-worker} #{@orch-attempt} #{remain-on-exit} #{pane_pipe}"
    rows = [r.split() for r in (tmux.list_panes(fmt) or "").splitlines()]
    got = {r[1]: r for r in rows if len(r) == 5}
    assert len(got) == WINDOWS
    for s in specs:
        index, _, attempt, remain, pipe = got[s.name]
        assert (int(index), attempt, remain, pipe) == (s.index, "1", "on", "1")

    def logged() -> bool:
        return all(Path(s.log_path).is_file() and Path(s.log_path).read_bytes() ==
                   f"up {s.name}\r\n".encode() for s in specs)  # fmt: skip

    retry_until(logged, seconds=30, message="every window's first line in its log")


def test_one_bad_window_fails_alone_and_the_file_is_removed(
    tmux_socket: str, tmp_path: Path, private_tmp: Path
) -> None:
    tmux = CountingTmux(tmux_socket)
    tmux.ensure_session(SESSION)
    tmux.run("new-window", "-d", "-t", f"{SESSION}:5", "-n", "taken", "sleep 600")
    specs = [window(tmp_path, i) for i in range(10)]  # indices 1..10: 5 is taken
    # The argv form refused one call past 16 364 bytes; a file takes any length.
    long_one = specs[7]
    specs[7] = WindowSpec(SESSION, long_one.index, long_one.name, long_one.cwd,
                          f"exec sleep 600 # {'x' * 40_000}", {}, long_one.log_path,
                          long_one.options)  # fmt: skip
    tmux.calls.clear()

    with pytest.raises(DriverError, match=r"tmux source-file: .*index 5 in use"):
        tmux.start_windows(specs)

    assert len(tmux.calls) == 1
    assert list(private_tmp.iterdir()) == []
    fmt = "#{window_index} #{window_name} #{@orch-worker} #{pane_pipe}"
    rows = (tmux.list_panes(fmt) or "").splitlines()
    opened = {f"{s.index} {s.name} {s.name} 1" for s in specs if s.index != 5}  # whole lines ran
    assert set(rows) == {"0 dashboard  0", "5 taken  0", *opened}
    assert len(rows) == 11


def test_a_nul_is_refused_before_tmux_and_writes_nothing(
    tmux_socket: str, tmp_path: Path, private_tmp: Path
) -> None:
    tmux = CountingTmux(tmux_socket)
    bad = WindowSpec(SESSION, 1, "w", str(tmp_path), "true", {}, str(tmp_path / "l"),
                     {"@v": "a\0b"})  # fmt: skip
    with pytest.raises(DriverError, match="NUL"):
        tmux.start_windows([bad])
    assert tmux.calls == []
    assert list(private_tmp.iterdir()) == []


# -- every value arrives byte for byte ---------------------------------------------------

PIECES = ['"', "'", "$HOME", "${HOME}", "$", "~", "~root", "#", "#{pane_id}", "##", "#[x]", "##[",
          "#(echo x)", "%R", "%%", "%", ";", "\\;", "\\", "\\n", "\n", "\n  # comment", "\n#{x}",
          "\t", "\x1b", "\x7f", " ", "  ", "é", "→", "😀", "%if", "{", "}", "--", "-x", "A=b",
          "\\u00e9", "\\033"]  # fmt: skip
TEXT = st.lists(
    st.sampled_from(PIECES) | st.text(st.characters(exclude_characters="\0", codec="utf-8")),
    max_size=6,
).map("".join)


RUNS = itertools.count()


def _folder(base: Path, text: str) -> Path:
    """A folder named after ``text`` (no ``/`` in a file name; 60 characters fit 255 bytes)."""
    folder = base / ("d" + text.replace("/", "_"))[:60]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _tmux(socket: str, *args: str) -> bytes:
    done = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, check=False,
                          timeout=10)  # fmt: skip
    assert done.returncode == 0, done
    return done.stdout


# No shrinking: each try waits on real processes, and the examples are short already.
@settings(max_examples=30, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(texts=st.lists(TEXT, min_size=1, max_size=6))
def test_values_arrive_byte_for_byte(
    tmux_socket: str, tmp_path: Path, retry_until: Retry, texts: list[str]
) -> None:
    tmux = Tmux(tmux_socket)
    session = f"p{next(RUNS)}"
    base = tmp_path / f"run-{session}"
    tmux.ensure_session(session)
    specs = []
    for i, text in enumerate(texts):
        folder = _folder(base, f"{i}{text}")
        out = base / f"out-{i}"
        command = (f"printf %s {shlex.quote(text)} > {shlex.quote(str(out))}.arg; "
                   f"printenv V > {shlex.quote(str(out))}.env; pwd > {shlex.quote(str(out))}.pwd; "
                   "echo logged")  # fmt: skip
        specs.append(WindowSpec(session, i + 1, text, str(folder), command, {"V": text},
                                str(folder / f"{text.replace('/', '_')[:40]}.log"),
                                {"@v": text, "@w": text + ";"}))  # fmt: skip
    tmux.start_windows(specs)

    for spec, text in zip(specs, texts, strict=True):
        target = f"{session}:{spec.index}"
        for key, value in (("@v", text), ("@w", text + ";")):
            got = _tmux(tmux_socket, "show-options", "-w", "-v", "-t", target, key)
            assert got == value.encode() + b"\n", (key, text)
        name = _tmux(tmux_socket, "display-message", "-p", "-t", target, "#{window_name}")
        assert name == text.encode() + b"\n", text
        log = Path(spec.log_path)  # "logged" is the command's last word (a tty ends it \r\n)
        retry_until(lambda log=log: log.is_file() and log.read_bytes() == b"logged\r\n",
                    seconds=10, message="the log")  # fmt: skip
        out = base / f"out-{spec.index - 1}"
        assert Path(f"{out}.arg").read_bytes() == text.encode()
        assert Path(f"{out}.env").read_bytes() == text.encode() + b"\n"
        assert Path(f"{out}.pwd").read_bytes() == spec.cwd.encode() + b"\n"


# -- a pass whose batch of windows fails in part ------------------------------------------


def test_a_window_that_cannot_open_fails_only_its_worker(
    fleet: Fleet, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet.base("sleep.sh")
    names = [f"w{i}" for i in range(1, 6)]
    fleet.workers(names)
    real = Tmux.start_windows
    victims: list[str] = []

    def racing(self: Tmux, specs: Sequence[WindowSpec]) -> None:
        """The real call, after someone took one window's index (as between two commands)."""
        victim = specs[len(specs) // 2]
        fleet.tmux("new-window", "-d", "-t", f"{victim.session}:{victim.index}", "sleep 600")
        victims.append(victim.name)
        real(self, specs)

    monkeypatch.setattr(Tmux, "start_windows", racing)
    result = fleet.reconcile(check=False, once=True)

    [victim] = victims
    failed = [e for e in result.events if not e.ok]
    assert [(e.worker, e.verb) for e in failed] == [(victim, "start-agent")]
    assert "in use" in (failed[0].error or "")
    assert sorted(fleet.owned()) == sorted(set(names) - {victim})
    state = fleet.state(victim)
    assert state["errors"] == 1 and "in use" in state["error"]
    assert all(fleet.state(n)["attempt_started_at"] for n in names if n != victim)
    assert not state["attempt_started_at"]
    assert list(private_tmp.iterdir()) == []
