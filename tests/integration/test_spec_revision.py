"""The specs' revision remembered by a reconcile, and used only while nothing it depends on moved.

Real git repositories; the memo's answer is made recognisable so that a test
can tell it from git's. File times are set back past the racy window, as time
passing would.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.loop import spec_revision
from tests.integration.conftest import git


def age(root: Path, seconds: float = 10.0) -> None:
    """Every file of ``root`` (.git included) last changed ``seconds`` ago."""
    when = time.time() - seconds
    for folder, _, files in os.walk(root):
        for name in files:
            os.utime(Path(folder) / name, (when, when))


@pytest.fixture
def control(tmp_path: Path) -> Path:
    root = tmp_path / "control"
    (root / "specs").mkdir(parents=True)
    (root / "specs" / "fleet.yaml").write_text("kind: Repo\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "specs: first")
    (root / "state").mkdir()
    age(root)
    return root


def mark_memo(state: Path) -> None:
    """Make the memo's answer one git would never give."""
    path = state / spec_revision.MEMO_FILE
    memo = json.loads(path.read_text())
    memo["info"]["revision"]["subject"] = "from the memo"
    path.write_text(json.dumps(memo))


def subject(root: Path) -> object:
    info = spec_revision.remembered(root, root / "state")
    return info["revision"]["subject"], info["specsDirty"]  # type: ignore[index]


def test_the_memo_answers_while_nothing_moved(control: Path) -> None:
    state = control / "state"
    spec_revision.remember(control, state)
    assert json.loads((state / "revision.json").read_text())["info"]["revision"]["subject"] == (
        "specs: first")  # fmt: skip
    mark_memo(state)
    assert subject(control) == ("from the memo", False)


def test_an_edit_a_new_file_or_a_commit_asks_git_again(control: Path) -> None:
    state = control / "state"
    spec_revision.remember(control, state)
    mark_memo(state)

    (control / "specs" / "fleet.yaml").write_text("kind: Agent\n")  # same size, new content
    age(control, 5)
    assert subject(control) == ("specs: first", True)

    git(control, "checkout", "-q", "--", "specs")
    (control / "specs" / "new.yaml").write_text("kind: Worker\n")  # untracked
    age(control, 4)
    assert subject(control) == ("specs: first", True)

    git(control, "add", "-A")
    git(control, "commit", "-q", "-m", "specs: second")
    age(control, 3)
    assert subject(control) == ("specs: second", False)
    spec_revision.remember(control, state)  # a reconcile remembers the new answer
    assert json.loads((state / "revision.json").read_text())["info"]["revision"]["subject"] == (
        "specs: second")  # fmt: skip


def test_a_stamp_younger_than_the_racy_window_is_never_remembered(control: Path) -> None:
    (control / "specs" / "fleet.yaml").write_text("kind: Agent\n")  # changed just now
    assert spec_revision.depends_on(control) is None
    spec_revision.remember(control, control / "state")
    assert not (control / "state" / "revision.json").exists()
    later = time.time_ns() + spec_revision.RACY_NS + 1_000_000
    assert spec_revision.depends_on(control, now_ns=later) is not None


def test_a_control_repo_without_a_git_folder_always_asks_git(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "specs").mkdir(parents=True)
    (root / "state").mkdir()
    age(root)
    assert spec_revision.depends_on(root) is None
    spec_revision.remember(root, root / "state")
    assert not (root / "state" / "revision.json").exists()
    assert spec_revision.remembered(root, root / "state")["revision"] is None  # git: no repo


def test_asking_git_leaves_the_index_as_it_was(control: Path) -> None:
    """git status would refresh the index's stat data and write it (taking index.lock)."""
    index = control / ".git" / "index"
    (control / "specs" / "fleet.yaml").write_text("kind: Repo\n")  # same content, new stat
    before = index.stat().st_mtime_ns
    assert spec_revision.revision_info(control)["specsDirty"] is False
    assert index.stat().st_mtime_ns == before
    git(control, "status", "--porcelain")  # plain git does write it: the check can fail
    assert index.stat().st_mtime_ns != before


def age_control(root: Path, seconds: float) -> None:
    """The control repo's git files and specs last changed ``seconds`` ago (not its state)."""
    for part in (".git", "specs", "config", ".gitignore"):
        path = root / part
        if path.is_file():
            os.utime(path, (time.time() - seconds,) * 2)
        elif path.is_dir():
            age(path, seconds)


def test_a_watcher_keeps_the_memo_current(
    fleet: Any, watch_thread: Callable[[], Any], retry_until: Callable[..., Any]
) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])  # not committed: specs/ has changes
    age_control(fleet.root, 10)
    memo_file = fleet.root / "state" / spec_revision.MEMO_FILE
    watcher = watch_thread()

    def memo() -> tuple[object, object] | None:
        watcher.stop.trigger.poke("test")
        try:
            info = json.loads(memo_file.read_text())["info"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return info["revision"]["subject"], info["specsDirty"]

    retry_until(lambda: memo() == ("control repo", True), seconds=20, message="the memo")
    # A commit moves HEAD and the index, not a spec file: the specs are not loaded
    # again, and the passes remember the new answer once nothing is too young.
    git(fleet.root, "add", "-A")
    git(fleet.root, "commit", "-q", "-m", "specs: w1")
    age(fleet.root / ".git", 5)
    retry_until(lambda: memo() == ("specs: w1", False), seconds=20, message="the commit's memo")
    watcher.close()
    assert json.loads(memo_file.read_text())["info"] == spec_revision.revision_info(fleet.root)
