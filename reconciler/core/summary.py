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
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and the rest: ESC, optional
# intermediates 0x20-0x2F, then one final byte (ESC ( B, ESC 7, ESC =, ...).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]")
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
    commits_total: int = 0  # commits since base, when known (more than ``commits``)
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
    # A line ending in CRLF (every line of a pipe-pane log) shows what follows
    # its last carriage return before the CR LF: the last overwrite.
    lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")]
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


def fit(text: str, room: int, keep_end: bool) -> str:
    r"""``text`` cut to at most ``room`` characters, a visible marker included.

    Examples
    --------
    >>> fit("abcdefghij" * 6, 44, keep_end=True)
    '[... 52 earlier characters trimmed]\ncdefghij'
    >>> fit("short", 40, keep_end=False)
    'short'
    """
    if len(text) <= room:
        return text
    # The marker names how much was cut, which depends on the marker's own length.
    width = len(f"[... {len(text)} earlier characters trimmed]") + 1
    keep = max(room - width, 0)
    cut = len(text) - keep
    if keep_end:
        return f"[... {cut} earlier characters trimmed]\n{text[cut:]}"
    return f"{text[:keep]}\n[... {cut} more characters trimmed]"


def build_summary(src: SummaryInput, limit: int = DEFAULT_LIMIT) -> str:
    """A markdown summary of at most ``limit`` characters; each part trimmed visibly.

    The newest text is kept: the end of the log and of the notes, the first
    (newest) commits. Space a part does not need goes to the parts after it,
    so the log, last, gets whatever is left.
    """
    head = f"Stage `{src.stage}`, attempt {src.attempt} ended: {src.reason}.\n"
    shown = list(src.commits[:20])
    hidden = max(src.commits_total, len(src.commits)) - len(shown)
    commits_note = f"\n[... {hidden} more commits, older, not shown]" if hidden > 0 else ""
    untracked_note = ""
    if src.untracked_total > len(src.untracked):
        untracked_note = f"\n[... {src.untracked_total - len(src.untracked)} more untracked files]"
    log = "\n".join(fold_repeats(strip_ansi(src.log_tail).splitlines())).strip()
    parts = [
        (f"Commits on this branch since `{src.base}` (newest first)", "\n".join(shown),
         commits_note, 0.15, False),
        ("Uncommitted changes (git diff --stat)", src.diff_stat.strip(), "", 0.10, True),
        ("Untracked files", "\n".join(src.untracked), untracked_note, 0.10, False),
        ("Your progress notes (.orch/progress.md)", src.progress.strip(), "", 0.30, True),
        ("End of the previous attempt's output", log, "", 0.35, True),
    ]  # fmt: skip
    sections = [
        (t, body or ("(empty)" if t.startswith("End") else "(none)"), note, share, end)
        for t, body, note, share, end in parts
    ]
    frame = len(head) + 1 + sum(len(_section(t, "", note)) + 1 for t, _, note, _, _ in sections)
    budget = max(limit - frame, 0)
    out, spare = [], 0
    for title, body, note, share, keep_end in sections:
        room = int(budget * share) + spare
        piece = fit(body, room, keep_end)
        spare = max(room - len(piece), 0)
        out.append(_section(title, piece, note))
    return head + "\n" + "\n".join(out)


def _section(title: str, body: str, note: str) -> str:
    return f"### {title}\n\n```\n{body}{note}\n```\n"
