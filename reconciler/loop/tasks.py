"""The control repo's tasks: tasks/backlog.md, active.md and completed.md, read and edited.

Plain functions that return dataclasses, for the CLI and any other face over
the same files. The text is parsed and edited by :mod:`reconciler.core.tasks`;
this module reads the files as bytes (so line endings stay what they are) and
writes each changed one atomically. A move writes the destination before the
source: an interruption leaves the line twice (reported as a duplicate id),
never lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import UsageError
from reconciler.core.tasks import (
    STATUSES,
    Board,
    Edit,
    Problem,
    Task,
    add,
    make_board,
    move,
    parse_file,
)
from reconciler.loop.state_store import write_atomic

TASKS_DIR = "tasks"


@dataclass(frozen=True)
class TaskList:
    """The tasks (each id once) and the lines left alone, with file:line."""

    tasks: tuple[Task, ...]
    problems: tuple[Problem, ...]


def task_file(status: str) -> str:
    """The path of a status's file, relative to the control repo."""
    return f"{TASKS_DIR}/{status}.md"


def _read(root: Path, rel: str) -> str:
    try:
        return (root / rel).read_bytes().decode("utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError as err:
        msg = f"{rel}: not UTF-8 text (byte {err.start}); orch reads and edits UTF-8 only"
        raise UsageError(msg) from None
    except OSError as err:
        msg = f"{rel}: cannot be read: {err.strerror}"
        raise UsageError(msg) from None


def read_board(root: Path) -> Board:
    """Parse the three files of ``root`` (a missing file is an empty one)."""
    return make_board([parse_file(s, task_file(s), _read(root, task_file(s))) for s in STATUSES])


def write_edit(root: Path, edit: Edit) -> Task:
    """Write the files ``edit`` changed (the task's own file first); return the task."""
    order = sorted(edit.texts, key=lambda rel: rel != edit.task.path)  # destination first
    for rel in order:
        write_atomic(root / rel, edit.texts[rel])
    return edit.task


def list_tasks(root: Path, repo: str | None = None, status: str | None = None) -> TaskList:
    """Every task (of ``repo``, of ``status`` when given) and every problem line."""
    if status is not None and status not in STATUSES:
        msg = f'unknown status "{status}"; use one of: {", ".join(STATUSES)}'
        raise UsageError(msg)
    board = read_board(root)
    tasks = tuple(
        t
        for t in board.tasks
        if (repo is None or t.repo == repo) and (status is None or t.status == status)
    )
    return TaskList(tasks, board.problems)


def add_task(root: Path, text: str, repo: str | None = None) -> Task:
    """Add ``text`` to the backlog under the next free id (across the three files)."""
    return write_edit(root, add(read_board(root), text, repo))


def start_task(root: Path, task_id: str) -> Task:
    """Move a backlog task to active.md."""
    return write_edit(root, move(read_board(root), task_id, "active"))


def done_task(root: Path, task_id: str, today: str | None = None) -> Task:
    """Move a backlog or active task to the end of completed.md, ticked and dated."""
    date = today or time.strftime("%Y-%m-%d")
    return write_edit(root, move(read_board(root), task_id, "completed", date))
