"""The restart summary: escape stripping, folding, trimming markers, the size bound,
session ids; and gather_summary + build_summary on a huge log and many untracked files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.core.model import WorkerState
from reconciler.core.summary import (
    DEFAULT_LIMIT,
    SummaryInput,
    build_summary,
    fit,
    fold_repeats,
    strip_ansi,
)
from reconciler.drivers.git import Git
from reconciler.loop import engine
from reconciler.loop.start_agent import (
    LOG_TAIL_BYTES,
    UNTRACKED_CAP,
    find_session_id,
    gather_summary,
)

# -- strip_ansi --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[31mred\x1b[0m plain", "red plain"),
        ("\x1b[1;38;5;208mbold orange\x1b[m", "bold orange"),
        ("\x1b[2K\x1b[1Aredrawn", "redrawn"),  # erase line, cursor up
        ("\x1b[?25lhidden cursor\x1b[?25h", "hidden cursor"),
        ("\x1b]0;window title\x07text", "text"),  # OSC ended by BEL
        ("\x1b]8;;https://x.invalid\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 ended by ST
        ("\x1bMreverse index\x1bD", "reverse index"),  # two-byte escapes (Fe)
        ("line one\r\nline two\r\n", "line one\nline two\n"),  # CRLF from a pty
        ("10%\r50%\r100%", "100%"),  # carriage-return overwrites: the last one wins
        ("no escapes at all", "no escapes at all"),
    ],
)
def test_strip_ansi(raw: str, clean: str) -> None:
    assert strip_ansi(raw) == clean


def test_strip_ansi_keeps_the_last_overwrite_of_a_crlf_line() -> None:
    assert strip_ansi("10%\r50%\r100%\r\nnext\r\n") == "100%\nnext\n"


@pytest.mark.parametrize("seq", ["\x1b(B", "\x1b7", "\x1b8", "\x1b=", "\x1b>"])
def test_strip_ansi_removes_other_escape_sequences(seq: str) -> None:
    assert strip_ansi(f"{seq}plain{seq}") == "plain"


# -- fold_repeats --------------------------------------------------------------------------


def test_fold_repeats_folds_runs_that_differ_in_numbers() -> None:
    lines = ["start", *[f"retry {i} after {i * 100}ms" for i in range(1, 8)], "done"]
    assert fold_repeats(lines) == ["start", "retry 1 after 100ms", "... 6 similar lines", "done"]


def test_fold_repeats_counts_one_similar_line_in_the_singular() -> None:
    assert fold_repeats(["a 1", "a 2"]) == ["a 1", "... 1 similar line"]


def test_fold_repeats_folds_identical_lines_and_a_trailing_run() -> None:
    assert fold_repeats(["x", "same", "same", "same"]) == ["x", "same", "... 2 similar lines"]


def test_fold_repeats_keeps_different_and_separated_lines() -> None:
    lines = ["a 1", "b 1", "a 2", "b 2", "a b"]
    assert fold_repeats(lines) == lines
    assert fold_repeats([]) == []


# -- fit ---------------------------------------------------------------------------------------


def test_fit_keeping_the_end_marks_what_it_trims() -> None:
    text = "".join(f"{i}\n" for i in range(1000))
    out = fit(text, 100, keep_end=True)
    assert out.startswith("[... ") and "earlier characters trimmed]\n" in out
    assert out.endswith("998\n999\n")
    assert len(out) <= 100
    assert fit("short", 100, keep_end=True) == "short"
    assert fit("exact", 5, keep_end=True) == "exact"


def test_fit_keeping_the_start_marks_what_it_trims() -> None:
    text = "".join(f"{i}\n" for i in range(1000))
    out = fit(text, 100, keep_end=False)
    assert out.startswith("0\n1\n2\n")
    assert out.rsplit("\n", 1)[1].endswith("more characters trimmed]")
    assert len(out) <= 100
    assert fit("short", 100, keep_end=False) == "short"


# -- build_summary -----------------------------------------------------------------------------


def small_input() -> SummaryInput:
    return SummaryInput(
        stage="build",
        attempt=2,
        reason="stalled: no activity for 901s",
        base="main",
        commits=["abc1234 add the parser", "def5678 scaffold"],
        diff_stat=" parser.py | 12 ++++++++----\n 1 file changed",
        untracked=["notes.txt"],
        untracked_total=1,
        log_tail="\x1b[32mok\x1b[0m compiled\r\nrunning tests\r\n",
        progress="- parser done\n- tests next\n",
    )


def test_summary_of_a_small_attempt_holds_every_part() -> None:
    out = build_summary(small_input())
    assert out.startswith("Stage `build`, attempt 2 ended: stalled: no activity for 901s.")
    for piece in (
        "abc1234 add the parser",
        "def5678 scaffold",
        "parser.py | 12",
        "notes.txt",
        "ok compiled",
        "running tests",
        "- tests next",
        "`main`",
    ):
        assert piece in out
    assert "\x1b" not in out and "\r" not in out
    assert "trimmed" not in out
    assert len(out) <= DEFAULT_LIMIT


def test_summary_of_an_empty_attempt_says_none() -> None:
    out = build_summary(SummaryInput(stage="s", attempt=1, reason="crashed: exit 3", base="main"))
    assert out.count("(none)") == 4
    assert "(empty)" in out


def huge_input() -> SummaryInput:
    """Every part far over its share; the log is one long retry loop (it folds)."""
    return SummaryInput(
        stage="build",
        attempt=7,
        reason="crashed: exit 1",
        base="main",
        commits=[f"{i:07x} commit {i} " + "w" * 300 for i in range(20)],
        diff_stat="".join(f" src/mod_{i}.py | {i % 40} ++--\n" for i in range(20000))
        + " 20000 files changed\n",
        untracked=[f"gen/case_{i:05d}.json" for i in range(UNTRACKED_CAP)],
        untracked_total=10000,
        log_tail="".join(f"\x1b[33mretry {i}: API overloaded\x1b[0m\r\n" for i in range(50000))
        + "LAST OUTPUT LINE\r\n",
        progress="".join(f"- note {i}: " + "n" * 80 + "\n" for i in range(5000)) + "LAST NOTE\n",
    )


@pytest.mark.parametrize("limit", [2000, DEFAULT_LIMIT, 12000])
def test_summary_of_huge_parts_is_bounded_marked_and_keeps_the_newest(limit: int) -> None:
    src = huge_input()
    out = build_summary(src, limit) if limit != DEFAULT_LIMIT else build_summary(src)
    assert len(out) <= limit
    assert out.startswith("Stage `build`, attempt 7 ended: crashed: exit 1.")
    assert "0000000 commit 0" in out  # newest commit first
    assert "more characters trimmed" in out  # commits (head kept)
    assert "20000 files changed" in out  # the diff's tail kept, with a marker before it
    assert "LAST NOTE" in out  # the newest progress note
    assert "LAST OUTPUT LINE" in out  # the newest output
    assert "similar lines" in out  # the retry loop folded
    assert out.count("earlier characters trimmed]") >= 2  # diff and progress
    assert "\x1b" not in out


def test_summary_limit_is_configurable() -> None:
    sizes = [len(build_summary(huge_input(), limit)) for limit in (1500, 3000, 6000, 12000)]
    assert sizes == sorted(sizes)
    assert all(size <= limit for size, limit in zip(sizes, (1500, 3000, 6000, 12000), strict=True))


def busy_input() -> SummaryInput:
    """Every part full of distinct short lines (nothing folds): the realistic worst case."""
    return SummaryInput(
        stage="build",
        attempt=3,
        reason="stalled: no activity for 901s",
        base="main",
        commits=[f"{i:07x} fix parser edge case {i}" for i in range(20)],
        diff_stat="".join(f" src/module_{i}.py | {i % 50} +++--\n" for i in range(3000)),
        untracked=[f"tests/generated/case_{i:05d}.json" for i in range(UNTRACKED_CAP)],
        untracked_total=10000,
        log_tail="".join(f"compiling unit {chr(97 + i % 26)} ok {i}\r\n" for i in range(5000))
        + "LAST OUTPUT LINE\r\n",
        progress="".join(f"- step {'x' * (i % 40)} done\n" for i in range(300)) + "LAST NOTE\n",
    )


@pytest.mark.parametrize("limit", [2000, DEFAULT_LIMIT])
def test_summary_of_busy_parts_stays_within_the_limit_and_keeps_the_newest_output(
    limit: int,
) -> None:
    out = build_summary(busy_input(), limit)
    assert "LAST OUTPUT LINE" in out
    assert len(out) <= limit


def test_summary_marks_commits_it_leaves_out() -> None:
    src = SummaryInput(
        stage="s",
        attempt=1,
        reason="r",
        base="main",
        commits=[f"{i:07x} commit {i}" for i in range(30)],
    )
    out = build_summary(src)
    assert "0000000 commit 0" in out
    assert "10 more" in out or "trimmed" in out


# -- find_session_id ----------------------------------------------------------------------------


def test_session_id_from_claude_stream_json() -> None:
    log = (
        '{"type":"user","message":{"content":"hi"},"session_id":"not-this-one"}\r\n'
        '{"type":"system","subtype":"init","cwd":"/w","session_id":"4f1c-9a","tools":[]}\r\n'
        '{"type":"assistant","session_id":"4f1c-9a"}\r\n'
    )
    assert find_session_id("claude-stream-json", log) == "4f1c-9a"


def test_session_id_from_claude_stream_json_with_spaces_and_fallback() -> None:
    assert (
        find_session_id(
            "claude-stream-json", '{"type": "system", "subtype": "init", "session_id": "s p-1"}'
        )
        == "s p-1"
    )
    # no system event: any session_id will do
    assert find_session_id("claude-stream-json", '{"type":"result","session_id":"r-2"}') == "r-2"
    assert find_session_id("claude-stream-json", "plain output\nno json here\n") is None


def test_session_id_from_a_regex() -> None:
    log = "booting\r\nsession=abc123\r\nworking\r\n"
    assert find_session_id(r"regex:session=(\S+)", log) == "abc123"
    assert find_session_id(r"regex:session=\w+", log) == "session=abc123"  # no group: the match
    assert find_session_id(r"regex:id=(\S+)", log) is None
    assert find_session_id("something-else", log) is None


# -- gather_summary on a huge worktree ----------------------------------------------------------


def write_big_log(path: Path, size: int) -> str:
    """``size`` bytes of repeated colored pane output; returns its distinctive last line."""
    block = "".join(
        f"\x1b[2K\x1b[36m[{i:04d}]\x1b[0m compiling \x1b[1mmodule_{i % 97}\x1b[0m ... ok\r\n"
        for i in range(4000)
    ).encode()
    last = "FINAL LINE: 42 tests passed, 1 failed (test_parser_edge)"
    with path.open("wb") as fh:
        written = 0
        while written < size:
            fh.write(block)
            written += len(block)
        fh.write(f"\x1b[31m{last}\x1b[0m\r\n".encode())
    return last


def big_worktree(tmp_path: Path, repo: Path, untracked: int) -> tuple[engine.Desired, Path]:
    """A control repo with one worker whose worktree holds ``untracked`` untracked files."""
    root = tmp_path / "ctl"
    (root / "specs").mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "prompts" / "stage.md.j2").write_text("do the work\n")
    (root / "specs" / "fleet.yaml").write_text(f"""\
apiVersion: orch/v1
kind: Repo
metadata: {{name: app}}
spec: {{path: {repo}, defaultBranch: main}}
---
apiVersion: orch/v1
kind: Agent
metadata: {{name: fake}}
spec: {{command: [sh, /bin/true]}}
---
apiVersion: orch/v1
kind: Pipeline
metadata: {{name: p}}
spec:
  stages: [{{name: work, prompt: prompts/stage.md.j2}}]
---
apiVersion: orch/v1
kind: Worker
metadata: {{name: w}}
spec: {{repo: app, pipeline: p, agent: fake}}
""")
    desired = engine.load(root)
    worktree = desired.worktree_path(desired.workers["w"])
    git = Git(repo)
    git.ensure_exclude(".orch/")
    git.worktree_add(worktree, "orch/w", "main", "test-fleet")
    for i in range(3):
        (worktree / f"src_{i}.py").write_text(f"x = {i}\n")
        subprocess.run(["git", "-C", str(worktree), "add", "-A"], check=True)
        subprocess.run(
            ["git", "-C", str(worktree), "commit", "-q", "-m", f"step {i} of the parser"],
            check=True,
        )
    (worktree / "src_0.py").write_text("x = 'changed'\n")
    for i in range(untracked):
        folder = worktree / "generated" / f"d{i // 500:02d}"
        if i % 500 == 0:
            folder.mkdir(parents=True)
        (folder / f"case_{i:05d}.json").write_text("{}\n")
    (worktree / ".orch").mkdir()
    (worktree / ".orch" / "progress.md").write_text("- parser: 3 steps committed\n")
    return desired, worktree


def test_gather_and_build_on_a_50mb_log_and_10000_untracked_files(
    tmp_path: Path, git_repo: Path
) -> None:
    desired, worktree = big_worktree(tmp_path, git_repo, 10_000)
    log = tmp_path / "work-1.log"
    last = write_big_log(log, 50 * 1024 * 1024)
    assert log.stat().st_size > 50 * 1024 * 1024
    worker = desired.workers["w"]
    stage = desired.pipelines["p"].stages[0]
    state = WorkerState(
        "w", worktree=str(worktree), repo_path=str(git_repo), stage="work", attempt=1, log=str(log)
    )

    src = gather_summary(desired, worker, stage, state, "stalled: no activity for 901s")
    assert src.untracked_total == 10_000
    assert len(src.untracked) == UNTRACKED_CAP
    assert len(src.log_tail) <= LOG_TAIL_BYTES
    assert [c.split(" ", 1)[1] for c in src.commits] == [
        "step 2 of the parser",
        "step 1 of the parser",
        "step 0 of the parser",
    ]
    assert "src_0.py" in src.diff_stat

    out = build_summary(src)
    assert len(out) <= DEFAULT_LIMIT
    assert last in out
    assert "step 2 of the parser" in out
    assert f"{10_000 - UNTRACKED_CAP} more untracked files" in out
    assert "similar lines" in out
    assert "- parser: 3 steps committed" in out
    assert "\x1b" not in out
    assert len(build_summary(src, 2500)) <= 2500
