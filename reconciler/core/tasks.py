"""Tasks as markdown checklists in tasks/*.md: parse them and edit the text (pure).

A task is one line, ``- [ ] T-12 [staking] Prove reward distribution``: a
checkbox, a stable id, an optional repo in brackets, the text; a completed one
is ``- [x] ...`` with `` (done 2026-12-01)`` at its end. Everything else in a
file (headings, notes, plain bullets, blank lines, the line endings) is kept
byte for byte: a file is a tuple of lines, each with its own ending, and an
edit removes or inserts whole lines. A line that looks like a task (a list
item starting with a checkbox or an id) but does not parse, or repeats an id
seen before, is a :class:`Problem` (file:line) and is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from reconciler.core.errors import UsageError

STATUSES = ("backlog", "active", "completed")
HEADINGS = {"backlog": "# Backlog", "active": "# Active", "completed": "# Completed"}
ID_PREFIX = "T-"

_TASK = re.compile(
    r"^(?P<indent>[ \t]*)(?P<bullet>[-*+]) \[(?P<check>[ xX])\] "
    r"(?P<id>T-[1-9][0-9]{0,8})"
    r"(?: \[(?P<repo>[a-z0-9][a-z0-9-]{0,62})\])?"
    r" (?P<text>\S.*?)"
    r"(?: \(done (?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})\))?[ \t]*$"
)
# A list item that opens with a checkbox or an id: meant as a task.
_LOOKS_LIKE = re.compile(r"^[ \t]*[-*+][ \t]+(?:\[[^\]]?\]|T-[0-9])", re.IGNORECASE)
_ANY_ID = re.compile(r"\bT-([0-9]{1,9})\b")
_REPO = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Task:
    """One task line: where it is, and what it says."""

    id: str
    text: str
    repo: str | None
    status: str  # the file it is in: backlog, active or completed
    checked: bool
    done_on: str | None  # YYYY-MM-DD from "(done ...)"
    path: str
    line: int  # 1-based

    @property
    def number(self) -> int:
        """The number of the id (12 for T-12)."""
        return int(self.id[len(ID_PREFIX) :])


@dataclass(frozen=True)
class Problem:
    """A line that looks like a task and is left alone, and why."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class TaskFile:
    """One tasks file: its lines (with their endings), its tasks and problems."""

    status: str
    path: str
    lines: tuple[str, ...]
    tasks: tuple[Task, ...]
    problems: tuple[Problem, ...]

    @property
    def text(self) -> str:
        """The file's text, exactly as read."""
        return "".join(self.lines)


@dataclass(frozen=True)
class Board:
    """The three files; ``tasks`` has each id once (the first), duplicates are problems."""

    files: tuple[TaskFile, ...]
    tasks: tuple[Task, ...]
    problems: tuple[Problem, ...]
    duplicates: frozenset[str] = frozenset()  # ids on more than one line

    def file(self, status: str) -> TaskFile:
        """The file of ``status``."""
        return next(f for f in self.files if f.status == status)


@dataclass(frozen=True)
class Edit:
    """The result of an edit: new texts by path, and the task as it now stands."""

    texts: dict[str, str]
    task: Task
    moved_from: str | None = None  # the status it left, for start and done


def split_lines(text: str) -> tuple[str, ...]:
    """``text`` as lines that keep their endings (only ``\\n`` ends a line).

    Examples
    --------
    >>> split_lines("a\\r\\nb\\n\\nc")
    ('a\\r\\n', 'b\\n', '\\n', 'c')
    """
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return tuple(lines)


def _body(line: str) -> str:
    return line[:-1].removesuffix("\r") if line.endswith("\n") else line


def parse_line(line: str) -> re.Match[str] | None:
    """The match of a task line (without its ending), or None."""
    return _TASK.match(_body(line))


def parse_file(status: str, path: str, text: str) -> TaskFile:
    """Parse one tasks file; lines that look like tasks and do not parse are problems.

    Examples
    --------
    >>> f = parse_file("backlog", "tasks/backlog.md", "# Backlog\\n- [ ] T-3 [app] Fix it\\n")
    >>> [(t.id, t.repo, t.text, t.line) for t in f.tasks]
    [('T-3', 'app', 'Fix it', 2)]
    >>> parse_file("active", "a.md", "- T-shirt sizes\\n- [link](x)\\n").problems
    ()
    >>> str(parse_file("active", "a.md", "- [ ] fix\\n").problems[0])
    'a.md:1: looks like a task but has no id: "- [ ] fix" (use "- [ ] T-<n> text")'
    """
    lines = split_lines(text)
    tasks, problems = [], []
    for number, line in enumerate(lines, 1):
        m = parse_line(line)
        if m:
            tasks.append(
                Task(
                    m["id"], m["text"], m["repo"], status, m["check"] in "xX", m["date"],
                    path, number,
                )
            )  # fmt: skip
        elif _LOOKS_LIKE.match(line):
            problems.append(Problem(path, number, _why(_body(line))))
    return TaskFile(status, path, lines, tuple(tasks), tuple(problems))


def _why(body: str) -> str:
    shown = body.strip()
    if not re.search(r"\bT-", body, re.IGNORECASE):
        return f'looks like a task but has no id: "{shown}" (use "- [ ] T-<n> text")'
    return f'looks like a task but does not parse: "{shown}" (use "- [ ] T-<n> [repo] text")'


def make_board(files: Sequence[TaskFile]) -> Board:
    """The board of ``files`` (in backlog, active, completed order): each id's first line wins."""
    seen: dict[str, Task] = {}
    problems: list[Problem] = []
    duplicates: set[str] = set()
    for f in files:
        problems.extend(f.problems)
        for task in f.tasks:
            first = seen.get(task.id)
            if first is None:
                seen[task.id] = task
                continue
            duplicates.add(task.id)
            msg = f"duplicate id {task.id} (first at {first.path}:{first.line}); left alone"
            problems.append(Problem(task.path, task.line, msg))
    return Board(tuple(files), tuple(seen.values()), tuple(problems), frozenset(duplicates))


def next_id(board: Board) -> str:
    """One more than the highest id on any task-like line of the three files."""
    numbers = [0]
    for f in board.files:
        for line in f.lines:
            if _LOOKS_LIKE.match(line) or parse_line(line):
                numbers += [int(n) for n in _ANY_ID.findall(line)]
    return f"{ID_PREFIX}{max(numbers) + 1}"


def task_line(task_id: str, text: str, repo: str | None) -> str:
    """The line (without ending) of a new open task; UsageError if it would not read back.

    Examples
    --------
    >>> task_line("T-4", "Prove it", "staking")
    '- [ ] T-4 [staking] Prove it'
    """
    clean = " ".join(text.split())
    if repo is not None and not _REPO.match(repo):
        msg = f'repo "{repo}" is not a valid name (lowercase letters, digits and -)'
        raise UsageError(msg)
    line = f"- [ ] {task_id} " + (f"[{repo}] " if repo else "") + clean
    m = _TASK.match(line)
    if not clean or m is None or (m["text"], m["repo"], m["date"]) != (clean, repo, None):
        msg = f'"{text}" cannot be written as a task line that reads back the same'
        hint = "; give the repo with --repo" if clean.startswith("[") else ""
        raise UsageError(msg + hint)
    return line


def _eol(lines: Sequence[str]) -> str:
    crlf = sum(1 for line in lines if line.endswith("\r\n"))
    return "\r\n" if crlf * 2 > sum(1 for line in lines if line.endswith("\n")) else "\n"


def insert_task(f: TaskFile, body: str, *, at_end: bool) -> tuple[str, int]:
    """``f``'s text with the task line ``body`` added, and its line number.

    It goes after the file's last task (its indentation and bullet copied), or
    at the end when ``at_end`` or the file has none; it takes the file's line
    ending. A last line without an ending gets one: that is the only other change.
    """
    lines = list(f.lines) or [HEADINGS[f.status] + "\n", "\n"]  # a new file gets its heading
    eol = _eol(lines)
    index = len(lines)
    if f.tasks and not at_end:
        last = f.tasks[-1]
        index = last.line
        m = parse_line(lines[last.line - 1])
        assert m is not None  # a task's own line
        body = m["indent"] + m["bullet"] + body[1:]
    if index == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += eol
    lines.insert(index, body + eol)
    return "".join(lines), index + 1


def remove_line(f: TaskFile, number: int) -> str:
    """``f``'s text without line ``number`` (1-based)."""
    return "".join(f.lines[: number - 1] + f.lines[number:])


def find(board: Board, task_id: str) -> Task:
    """The task ``task_id`` (any case); UsageError naming the problem when it cannot be used."""
    wanted = task_id.strip().upper()
    if wanted in board.duplicates:
        where = [str(p) for p in board.problems if f"duplicate id {wanted} " in p.message]
        msg = f"{wanted} is on more than one line ({'; '.join(where)}); fix the files first"
        raise UsageError(msg)
    for task in board.tasks:
        if task.id == wanted:
            return task
    msg = f"no task {wanted} in tasks/backlog.md, tasks/active.md or tasks/completed.md"
    raise UsageError(msg)


def add(board: Board, text: str, repo: str | None) -> Edit:
    """Add a new open task to the backlog under the next free id."""
    backlog = board.file("backlog")
    task_id = next_id(board)
    body = task_line(task_id, text, repo)
    new_text, line = insert_task(backlog, body, at_end=False)
    m = parse_line(split_lines(new_text)[line - 1])
    assert m is not None
    task = Task(task_id, m["text"], repo, "backlog", False, None, backlog.path, line)
    return Edit({backlog.path: new_text}, task)


def move(board: Board, task_id: str, to: str, date: str | None = None) -> Edit:
    """Move a task's line to the file ``to``: exactly one line leaves, one arrives.

    To ``completed`` (``date`` given): the box is ticked and `` (done DATE)``
    appended, at the end of the file (completed.md only grows). To ``active``:
    the line as it was, after active.md's last task.
    """
    task = find(board, task_id)
    allowed = {"active": ("backlog",), "completed": ("backlog", "active")}[to]
    if task.status not in allowed:
        where = f"{task.path}:{task.line}"
        msg = (
            f"{task.id} is {task.status} ({where}); only a {' or '.join(allowed)} task can go {to}"
        )
        raise UsageError(msg)
    src = board.file(task.status)
    dst = board.file(to)
    m = parse_line(src.lines[task.line - 1])
    assert m is not None
    body = _body(src.lines[task.line - 1])[len(m["indent"]) :].rstrip(" \t")
    if to == "completed":
        at = m.start("check") - len(m["indent"])
        body = body[:at] + "x" + body[at + 1 :]
        if m["date"] is None:
            body += f" (done {date})"
    new_dst, line = insert_task(dst, body, at_end=to == "completed")
    moved = replace(
        task, status=to, path=dst.path, line=line, checked=to == "completed" or task.checked,
        done_on=task.done_on or (date if to == "completed" else None),
    )  # fmt: skip
    return Edit({src.path: remove_line(src, task.line), dst.path: new_dst}, moved, task.status)
