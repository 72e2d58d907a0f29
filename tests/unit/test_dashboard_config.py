"""tmux.dashboard and ORCH_DASHBOARD, and the command the dashboard window runs."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from reconciler.loop.dashboard import window_command
from reconciler.spec.config import load_config
from reconciler.spec.validate import load_desired


def config_file(root: Path, text: str) -> Path:
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / "orch.yaml").write_text(text)
    return root


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("", {}, True),
        ("tmux: {dashboard: false}\n", {}, False),
        ("tmux: {dashboard: false}\n", {"ORCH_DASHBOARD": "1"}, True),
        ("tmux: {dashboard: true}\n", {"ORCH_DASHBOARD": "0"}, False),
        ("", {"ORCH_DASHBOARD": "no"}, False),
    ],
)
def test_the_file_sets_it_and_the_environment_overrides_it(
    tmp_path: Path, text: str, env: dict[str, str], expected: bool
) -> None:
    config, errors = load_config(config_file(tmp_path, text), env)
    assert errors == []
    assert config.tmux_dashboard is expected


def test_a_dashboard_value_that_is_not_a_boolean_names_the_line(tmp_path: Path) -> None:
    _, errors = load_config(config_file(tmp_path, "tmux:\n  dashboard: maybe\n"), {})
    assert [(e.path, e.line) for e in errors] == [("config/orch.yaml", 2)]


def test_the_window_runs_this_orch_on_this_root_and_socket_then_a_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_HOST", "ws-2")  # shared with the dashboard, as the socket is
    root = config_file(tmp_path / "my fleet", "tmux: {socket: from-file}\n")
    desired = load_desired(root, {"ORCH_TMUX_SOCKET": "sock-1"})

    argv = window_command(desired)

    assert argv[:2] == ["/bin/sh", "-c"]
    first, *rest = argv[2].split("; ")
    assert first == "trap : INT"
    command = shlex.split(rest[0])
    assert command == [
        "ORCH_TMUX_SOCKET=sock-1", "ORCH_HOST=ws-2",
        sys.executable, "-m", "reconciler", "--root", str(root.resolve()), "dashboard",
    ]  # fmt: skip
    assert rest[-1] == "exec /bin/sh"
