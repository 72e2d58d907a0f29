"""Parsers of ``git status --porcelain=v2 --branch`` and ``git log -1`` text (pure).

One ``git status`` call per repository says everything `orch repos` shows but
the last commit: the commit and branch checked out, the upstream and how far
ahead and behind it the branch is, and one line per changed path (whose
first two letters say staged and unstaged). The format is git's stable
machine format (``git help status``, "Porcelain Format Version 2").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# -z is not needed: without it git quotes unusual paths (newlines included), and
# only the first field of a line is read here. --no-optional-locks: a look never
# takes index.lock away from someone working in the repo.
STATUS_ARGS = ("--no-optional-locks", "status", "--porcelain=v2", "--branch", "--show-stash")
LOG_FORMAT = "%H%x00%ct%x00%s"
LOG_ARGS = ("--no-optional-locks", "log", "-1", f"--format={LOG_FORMAT}")


@dataclass(frozen=True)
class GitStatus:
    """What one ``git status --porcelain=v2 --branch`` says about a working tree."""

    oid: str | None = None  # None before the first commit
    branch: str | None = None  # None when HEAD is detached
    upstream: str | None = None
    ahead: int | None = None  # None without an upstream, or when it is gone
    behind: int | None = None
    staged: int = 0
    unstaged: int = 0
    untracked: int = 0
    conflicted: int = 0
    stash: int = 0

    @property
    def upstream_gone(self) -> bool:
        """An upstream is configured but its ref no longer exists (deleted on the remote)."""
        return self.upstream is not None and self.ahead is None

    @property
    def dirty(self) -> bool:
        """Anything staged, unstaged, untracked or in conflict."""
        return bool(self.staged or self.unstaged or self.untracked or self.conflicted)

    def changes_text(self) -> str:
        """``"clean"`` or the counts, e.g. ``"2 staged, 1 unstaged, 3 untracked"``.

        Examples
        --------
        >>> GitStatus().changes_text()
        'clean'
        >>> GitStatus(staged=2, untracked=3).changes_text()
        '2 staged, 3 untracked'
        """
        counts = (
            (self.conflicted, "conflicted"),
            (self.staged, "staged"),
            (self.unstaged, "unstaged"),
            (self.untracked, "untracked"),
        )
        parts = [f"{n} {what}" for n, what in counts if n]
        return ", ".join(parts) if parts else "clean"

    def sync_text(self) -> str:
        """The upstream and the distance to it, e.g. ``"origin/main +2 -1"``.

        Examples
        --------
        >>> GitStatus(upstream="origin/main", ahead=2, behind=0).sync_text()
        'origin/main +2 -0'
        >>> GitStatus(upstream="origin/old").sync_text()
        'origin/old (gone)'
        >>> GitStatus().sync_text()
        'no upstream'
        """
        if self.upstream is None:
            return "no upstream"
        if self.upstream_gone:
            return f"{self.upstream} (gone)"
        return f"{self.upstream} +{self.ahead} -{self.behind}"


@dataclass(frozen=True)
class LastCommit:
    """The commit HEAD points at: its id, committer time (epoch seconds) and subject."""

    sha: str
    time: float
    subject: str


def parse_status(text: str) -> GitStatus:
    """Read ``git status --porcelain=v2 --branch [--show-stash]`` output.

    Header lines it does not know and record types other than changes are
    skipped, so a newer git that says more is still read.

    Raises
    ------
    ValueError
        When a header it knows carries a value it cannot read.

    Examples
    --------
    >>> s = parse_status("# branch.oid abc\\n# branch.head main\\n"
    ...                  "# branch.upstream origin/main\\n# branch.ab +1 -2\\n"
    ...                  "1 .M N... 100644 100644 100644 a a f\\n? new\\n")
    >>> (s.branch, s.upstream, s.ahead, s.behind, s.unstaged, s.untracked)
    ('main', 'origin/main', 1, 2, 1, 1)
    """
    status = GitStatus()
    staged = unstaged = untracked = conflicted = 0
    for line in text.splitlines():
        if line.startswith("# "):
            status = _header(line[2:], status)
        elif line.startswith(("1 ", "2 ")):  # ordinary and renamed: XY is staged, unstaged
            staged += line[2:3] not in (".", "")
            unstaged += line[3:4] not in (".", "")
        elif line.startswith("u "):
            conflicted += 1
        elif line.startswith("? "):
            untracked += 1
    return replace(
        status, staged=staged, unstaged=unstaged, untracked=untracked, conflicted=conflicted
    )


def _header(line: str, status: GitStatus) -> GitStatus:
    key, _, value = line.partition(" ")
    if key == "branch.oid":
        return replace(status, oid=None if value == "(initial)" else value)
    if key == "branch.head":
        return replace(status, branch=None if value == "(detached)" else value)
    if key == "branch.upstream":
        return replace(status, upstream=value)
    if key == "branch.ab":
        ahead, _, behind = value.partition(" ")
        if not (ahead[:1] == "+" and behind[:1] == "-" and ahead[1:].isdigit()
                and behind[1:].isdigit()):  # fmt: skip
            msg = f"git status: cannot read branch.ab {value!r}"
            raise ValueError(msg)
        return replace(status, ahead=int(ahead[1:]), behind=int(behind[1:]))
    if key == "stash" and value.isdigit():
        return replace(status, stash=int(value))
    return status


def parse_last_commit(text: str) -> LastCommit | None:
    """Read ``git log -1 --format=%H%x00%ct%x00%s`` output; None when it is empty.

    Examples
    --------
    >>> parse_last_commit("ab12\\x001700000000\\x00fix the parser")
    LastCommit(sha='ab12', time=1700000000.0, subject='fix the parser')
    >>> parse_last_commit("") is None
    True
    """
    text = text.rstrip("\n")
    if not text:
        return None
    parts = text.split("\0", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        msg = f"git log: cannot read {text[:80]!r}"
        raise ValueError(msg)
    return LastCommit(parts[0], float(parts[1]), parts[2])
