"""The compressed progress summary a restarted agent receives (pure).

Built from what the previous attempt left behind: commits since the worker's
base, uncommitted changes, untracked files, the tail of its log (escape codes
stripped, repeats folded) and its own progress notes. The whole is bounded;
each part is trimmed with a visible marker, keeping the most recent text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_LIMIT = 6000
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class SummaryInput:
    """Raw material for one summary, gathered by the caller."""

    stage: str
    attempt: int
    reason: str
    base: str
    commits: Sequence[str] = ()
    diff_stat: str = ""
    untracked: Sequence[str] = ()
    untracked_total: int = 0
    log_tail: str = ""
    progress: str = ""


def strip_ansi(text: str) -> str:
    r"""Remove terminal escape sequences and carriage-return overwrites.

    Examples
    --------
    >>> strip_ansi("\x1b[31mred\x1b[0m ok")
    'red ok'
    """
    text = _ANSI.sub("", text)
    lines = [
        line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
        for line in text.split("\n")
    ]
    return "\n".join(lines)


def fold_repeats(lines: Sequence[str]) -> list[str]:
    """Fold runs of lines that differ only in numbers into one line and a count.

    Examples
    --------
    >>> fold_repeats(["retry 1", "retry 2", "retry 3", "done"])
    ['retry 1', '... 2 similar lines', 'done']
    """
    out: list[str] = []
    run_key, run_len = None, 0
    for line in lines:
        key = _DIGITS.sub("#", line.strip())
        if key == run_key:
            run_len += 1
            continue
        if run_len:
            out.append(f"... {run_len} similar line{'s' if run_len > 1 else ''}")
        out.append(line)
        run_key, run_len = key, 0
    if run_len:
        out.append(f"... {run_len} similar line{'s' if run_len > 1 else ''}")
    return out


def keep_tail(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text``, marked when trimmed.

    Examples
    --------
    >>> keep_tail("abcdefghij", 4)
    '[... 6 earlier characters trimmed]\\nghij'
    """
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"[... {cut} earlier characters trimmed]\n{text[cut:]}"


def keep_head(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, marked when trimmed."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... {len(text) - limit} more characters trimmed]"


def build_summary(src: SummaryInput, limit: int = DEFAULT_LIMIT) -> str:
    """A markdown summary of at most about ``limit`` characters."""
    head = f"Stage `{src.stage}`, attempt {src.attempt} ended: {src.reason}.\n"
    budget = max(limit - len(head) - 400, 400)  # 400: headings and markers
    commits = "\n".join(src.commits[:20]) or "(none)"
    untracked = "\n".join(src.untracked) or "(none)"
    if src.untracked_total > len(src.untracked):
        untracked += f"\n[... {src.untracked_total - len(src.untracked)} more untracked files]"
    log = "\n".join(fold_repeats(strip_ansi(src.log_tail).splitlines())).strip() or "(empty)"
    parts = [
        (f"Commits on this branch since `{src.base}` (newest first)", commits, 0.15, keep_head),
        (
            "Uncommitted changes (git diff --stat)",
            src.diff_stat.strip() or "(none)",
            0.10,
            keep_tail,
        ),
        ("Untracked files", untracked, 0.10, keep_head),
        (
            "Your progress notes (.orch/progress.md)",
            src.progress.strip() or "(none)",
            0.30,
            keep_tail,
        ),
        ("End of the previous attempt's output", log, 0.35, keep_tail),
    ]
    body = []
    spare = 0
    for title, text, share, trim in parts:
        room = int(budget * share) + spare
        piece = trim(text, room)
        spare = max(room - len(piece), 0)
        body.append(f"### {title}\n\n```\n{piece}\n```\n")
    return keep_head(head + "\n" + "\n".join(body), limit)
