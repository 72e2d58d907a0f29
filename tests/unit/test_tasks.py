"""core.tasks: task lines parsed and edited as text; everything else kept byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.errors import UsageError
from reconciler.core.tasks import (
    Board,
    add,
    make_board,
    move,
    next_id,
    parse_file,
    split_lines,
    task_line,
)

EOL = st.sampled_from(["\n", "\r\n"])
WORDS = (
    st.text(alphabet="abcdefghij XYZ:.,()`#", min_size=1, max_size=30).map(str.strip).filter(bool)
)
REPO = st.one_of(st.none(), st.sampled_from(["app", "staking", "docs-site"]))


@st.composite
def other_line(draw: st.DrawFn) -> str:
    """A line that is not a task: heading, note, plain bullet, blank, malformed task."""
    word = draw(WORDS)
    return draw(
        st.sampled_from(
            [
                f"# {word}",
                "",
                word,
                f"- {word}",
                f"  * {word}",
                f"- [ ] {word}",
                f"- [x] T-x {word}",
            ]
        )
    )


def _task(number: int, text: str, repo: str | None, checked: bool, bullet: str) -> str:
    box = "x" if checked else " "
    return f"{bullet} [{box}] T-{number} " + (f"[{repo}] " if repo else "") + text


@st.composite
def board_texts(draw: st.DrawFn) -> dict[str, str]:
    """Three files with unique ids, notes in between, mixed line endings, a final newline."""
    numbers = iter(draw(st.lists(st.integers(1, 500), unique=True, min_size=3, max_size=12)))
    out = {}
    for status in ("backlog", "active", "completed"):
        lines = [f"# {status.title()}"]
        for _ in range(draw(st.integers(1, 4))):
            lines.append(draw(other_line()))
            text = draw(WORDS)
            if not text.startswith("["):
                n = next(numbers, None)
                if n is not None:
                    lines.append(
                        _task(
                            n, text, draw(REPO), draw(st.booleans()), draw(st.sampled_from("-*+"))
                        )
                    )
        out[status] = "".join(line + draw(EOL) for line in lines)
    return out


def _board(texts: dict[str, str]) -> Board:
    return make_board(
        [parse_file(s, f"tasks/{s}.md", texts[s]) for s in ("backlog", "active", "completed")]
    )


@given(st.text(max_size=400))
def test_parsing_any_text_renders_it_back_byte_for_byte(text: str) -> None:
    parsed = parse_file("backlog", "tasks/backlog.md", text)
    assert parsed.text == text
    for task in parsed.tasks:
        assert task.id in parsed.lines[task.line - 1]


@given(board_texts())
def test_an_untouched_board_is_byte_identical(texts: dict[str, str]) -> None:
    board = _board(texts)
    assert {f.status: f.text for f in board.files} == texts


def _without_one(new: tuple[str, ...], old: tuple[str, ...]) -> int:
    """The index of the one line ``new`` has more than ``old`` (all else equal)."""
    assert len(new) == len(old) + 1
    index = next((i for i, (a, b) in enumerate(zip(new, old, strict=False)) if a != b), len(old))
    assert new[:index] + new[index + 1 :] == old
    return index


@settings(max_examples=60)
@given(board_texts(), st.data())
def test_moving_a_task_changes_exactly_the_two_lines(
    texts: dict[str, str], data: st.DataObject
) -> None:
    board = _board(texts)
    movable = [t for t in board.tasks if t.status != "completed"]
    if not movable:
        return
    task = data.draw(st.sampled_from(movable))
    to = "active" if task.status == "backlog" and data.draw(st.booleans()) else "completed"
    edit = move(board, task.id, to, "2026-12-01")
    assert set(edit.texts) == {f"tasks/{task.status}.md", f"tasks/{to}.md"}
    src_old = split_lines(texts[task.status])
    src_new = split_lines(edit.texts[f"tasks/{task.status}.md"])
    assert _without_one(src_old, src_new) == task.line - 1
    dst_old = split_lines(texts[to])
    dst_new = split_lines(edit.texts[f"tasks/{to}.md"])
    index = _without_one(dst_new, dst_old)
    if to == "completed":
        assert index == len(dst_old)  # completed.md only grows at its end
        assert edit.texts["tasks/completed.md"].startswith(texts["completed"])
    crlf = sum(line.endswith("\r\n") for line in dst_old)
    assert dst_new[index].endswith("\r\n" if crlf * 2 > len(dst_old) else "\n")  # the file's own
    moved = _board({**texts, **{p.split("/")[1][:-3]: t for p, t in edit.texts.items()}})
    found = next(t for t in moved.tasks if t.id == task.id)
    assert (found.status, found.text, found.repo, found.line) == (
        to,
        task.text,
        task.repo,
        index + 1,
    )
    if to == "completed":
        assert found.checked and found.done_on == (task.done_on or "2026-12-01")


@settings(max_examples=60)
@given(board_texts(), WORDS.filter(lambda w: not w.startswith("[")), REPO)
def test_add_puts_one_line_with_a_fresh_id_in_the_backlog(
    texts: dict[str, str], text: str, repo: str | None
) -> None:
    board = _board(texts)
    edit = add(board, text, repo)
    assert list(edit.texts) == ["tasks/backlog.md"]
    new = split_lines(edit.texts["tasks/backlog.md"])
    index = _without_one(new, split_lines(texts["backlog"]))
    assert index + 1 == edit.task.line
    assert edit.task.number > max(t.number for t in board.tasks)
    again = _board({**texts, "backlog": edit.texts["tasks/backlog.md"]})
    assert next(t for t in again.tasks if t.id == edit.task.id).text == " ".join(text.split())


NO_ID = 'tasks/backlog.md:4: looks like a task but has no id: "- [ ] no id at all" (use "- [ ] '
NO_ID += 'T-<n> text")'
BAD = 'tasks/backlog.md:5: looks like a task but does not parse: "- [x] T-two words" (use "- [ ] '
BAD += 'T-<n> [repo] text")'


def test_malformed_lines_are_problems_with_file_and_line_and_stay() -> None:
    text = (
        "# Backlog\n\n- [ ] T-1 [app] fine\n- [ ] no id at all\n- [x] T-two words\n"
        "- a plain note\n- [ ] T-1 twice\n- [ ] T-2 ok\n- [ ] T-3 other\n"
    )
    board = _board({"backlog": text, "active": "- [ ] T-2 again\n", "completed": ""})
    assert [str(p) for p in board.problems] == [
        NO_ID,
        BAD,
        "tasks/backlog.md:7: duplicate id T-1 (first at tasks/backlog.md:3); left alone",
        "tasks/active.md:1: duplicate id T-2 (first at tasks/backlog.md:8); left alone",
    ]
    assert [t.id for t in board.tasks] == ["T-1", "T-2", "T-3"]
    with pytest.raises(UsageError, match=r"T-2 is on more than one line \(tasks/active.md:1"):
        move(board, "T-2", "active")
    with pytest.raises(UsageError, match=r"T-1 is on more than one line \(tasks/backlog.md:7"):
        move(board, "t-1", "completed", "2026-12-01")
    edit = move(board, "t-3", "completed", "2026-12-01")
    assert edit.texts["tasks/backlog.md"] == text.replace("- [ ] T-3 other\n", "")
    assert next_id(board) == "T-4"


def test_ids_are_stable_and_next_id_skips_every_id_in_use() -> None:
    board = _board(
        {"backlog": "- [ ] T-7 a\n", "active": "- [ ] T-9 b\n", "completed": "- [ ] T-12x c\n"}
    )
    assert next_id(board) == "T-10"  # "T-12x" is no id; T-9 is the highest
    edit = move(board, "T-7", "active")
    assert edit.task.id == "T-7" and edit.texts["tasks/active.md"] == "- [ ] T-9 b\n- [ ] T-7 a\n"


def test_a_file_without_a_final_newline_gains_one_and_a_new_file_a_heading() -> None:
    board = _board({"backlog": "# B\r\n- [ ] T-1 a", "active": "", "completed": "# Done\r\nnote"})
    edit = move(board, "T-1", "completed", "2026-12-01")
    assert edit.texts["tasks/completed.md"] == "# Done\r\nnote\r\n- [x] T-1 a (done 2026-12-01)\r\n"
    edit = move(board, "T-1", "active")
    assert edit.texts["tasks/active.md"] == "# Active\n\n- [ ] T-1 a\n"


def test_moves_that_do_not_fit_are_refused() -> None:
    board = _board({"backlog": "", "active": "- [ ] T-1 a\n", "completed": "- [x] T-2 b\n"})
    with pytest.raises(UsageError, match="T-1 is active"):
        move(board, "T-1", "active")
    with pytest.raises(UsageError, match="T-2 is completed"):
        move(board, "T-2", "completed", "2026-12-01")
    with pytest.raises(UsageError, match="no task T-3"):
        move(board, "T-3", "active")


@pytest.mark.parametrize(
    ("text", "repo", "why"),
    [("", None, "cannot be written"), ("[app] x", None, "--repo"), ("x (done 2026-01-01)", None,
     "cannot be written"), ("x", "Bad Repo", "not a valid name")],
)  # fmt: skip
def test_text_that_would_not_read_back_is_refused(text: str, repo: str | None, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        task_line("T-1", text, repo)
