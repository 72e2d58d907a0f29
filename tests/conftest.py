"""Shared test fixtures: a private HOME and git identity, private tmux sockets, git repos.

Every test runs with HOME in a fresh temporary folder, so neither the user's
git nor tmux configuration leaks in. Tests that need tmux ask for
``tmux_socket`` (a private ``-L`` socket, killed and unlinked afterwards);
tests that wait on something poll with ``retry_until`` and never sleep blindly.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from reconciler.drivers.git import init_repo

T = TypeVar("T")

# Variables that would point a test at the user's own orch, tmux or git state.
_UNSET = (
    "TMUX",
    "TMUX_PANE",
    "ORCH_ROOT",
    "ORCH_TMUX_SOCKET",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
)


def retry_until(
    fn: Callable[[], T], seconds: float = 5.0, interval: float = 0.05, message: str = ""
) -> T:
    """Call ``fn`` until it returns something truthy; return that value.

    Raises
    ------
    AssertionError
        When ``seconds`` pass first; names ``message`` (or ``fn``) and the last value.
    """
    deadline = time.monotonic() + seconds
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(fn, "__name__", repr(fn))
            raise AssertionError(f"timed out after {seconds}s waiting for {what}; last: {value!r}")
        time.sleep(interval)


@pytest.fixture(name="retry_until")
def retry_until_fixture() -> Callable[..., object]:
    """The :func:`retry_until` function, for tests that prefer a fixture to an import."""
    return retry_until


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME at a fresh folder with its own gitconfig; fix the git identity."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))  # tmux 3.x reads it too
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test User")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.invalid")
    for name in _UNSET:
        monkeypatch.delenv(name, raising=False)
    # No live dashboard in the sessions tests create (tests/integration/test_dashboard.py
    # turns it back on): it would add a process refreshing every second to each.
    monkeypatch.setenv("ORCH_DASHBOARD", "0")
    return home


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    """A unique tmux socket name; its server is killed and its file unlinked afterwards."""
    name = f"orch-test-{secrets.token_hex(6)}"
    socket_dir = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.geteuid()}"
    yield name
    with contextlib.suppress(Exception):
        subprocess.run(
            ["tmux", "-L", name, "kill-server"], capture_output=True, timeout=10, check=False
        )
    with contextlib.suppress(Exception):
        (socket_dir / name).unlink(missing_ok=True)


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A git repository on ``main`` with an empty first commit and a committed README."""
    repo = tmp_path / "repo"
    init_repo(repo)
    (repo / "README.md").write_text("# test repo\n")
    subprocess.run(["git", "-C", str(repo), "add", "README.md"], check=True, capture_output=True)
    subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "-m", "add README"],
        check=True,
        capture_output=True,
    )
    return repo


FAKE_BIN = Path(__file__).resolve().parent / "bin"


@pytest.fixture
def fake_forge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tests/bin (a fake gh and glab that record their argv) first on PATH; their folder.

    The hosting service cannot be reached from tests: this is the only fake.
    ``<folder>/calls.jsonl`` holds one JSON argv a call; ``requests.json`` the
    pull requests "opened"; ``issues.json`` what ``issue list`` prints.
    """
    folder = tmp_path / "forge"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_FORGE_DIR", str(folder))
    monkeypatch.setenv("FAKE_FORGE_PYTHON", sys.executable)
    return folder
