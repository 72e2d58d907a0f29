"""Finding the control repo (cli/root.py): a folder that is none is an error, never a default."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli.root import find_root, target_root
from reconciler.core.errors import UsageError


@pytest.fixture
def ctl(tmp_path: Path) -> Path:
    (tmp_path / "ctl" / "specs").mkdir(parents=True)
    (tmp_path / "ctl" / "a" / "b").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    return tmp_path / "ctl"


def test_the_nearest_control_repo_above_the_current_folder(ctl: Path) -> None:
    assert find_root(None, {}, ctl / "a" / "b") == ctl.resolve()
    assert target_root(None, {}, ctl / "a" / "b") == ctl.resolve()


def test_no_control_repo_is_an_error_for_find_and_here_for_target(ctl: Path) -> None:
    plain = ctl.parent / "plain"
    with pytest.raises(UsageError, match=r"no control repo at .*plain or above it"):
        find_root(None, {}, plain)
    assert target_root(None, {}, plain) == plain.resolve()


@pytest.mark.parametrize("how", ["--root", "ORCH_ROOT"])
def test_a_given_root_must_exist_and_be_a_control_repo(ctl: Path, how: str) -> None:
    def given(path: Path) -> Path:
        return find_root(path, {}, ctl) if how == "--root" else find_root(
            None, {"ORCH_ROOT": str(path)}, ctl)  # fmt: skip

    assert given(ctl) == ctl.resolve()
    with pytest.raises(UsageError, match=f"^{how} .*nope does not exist$"):
        given(ctl / "nope")
    with pytest.raises(UsageError, match=f"^{how} .*plain is not a control repo"):
        given(ctl.parent / "plain")
    (ctl.parent / "file").write_text("")
    with pytest.raises(UsageError, match=r"file is not a folder$"):
        given(ctl.parent / "file")
    # a command that writes a control repo's first files takes the given folder as it is
    assert target_root(ctl.parent / "plain", {}, ctl) == (ctl.parent / "plain").resolve()


def test_config_alone_marks_a_control_repo(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "orch.yaml").write_text("{}\n")
    assert find_root(None, {}, tmp_path) == tmp_path.resolve()
