"""Error types of orch.

Every error a user can cause is an :class:`OrchError`; its message is built
from data inside the exception, so the CLI prints ``str(err)`` as one line and
exits with ``err.exit_code``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class OrchError(Exception):
    """Base of every error orch reports to a user."""

    exit_code: int = 1


class SpecError(OrchError):
    """One problem in a spec or config file, located by file, line and column.

    Renders as ``specs/fleet.yaml:14:5: Worker/a: unknown pipeline "p2"``.
    """

    def __init__(self, path: str, line: int, col: int, obj: str | None, message: str) -> None:
        self.path = path
        self.line = line
        self.col = col
        self.obj = obj
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}"
        return f"{where}: {self.obj}: {self.message}" if self.obj else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        """The error as JSON-ready data (for ``--json`` output)."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "object": self.obj,
            "message": self.message,
        }


class SpecErrors(OrchError):
    """All the problems found in one load of the specs, in file order."""

    def __init__(self, errors: Iterable[SpecError]) -> None:
        self.errors: list[SpecError] = sorted(
            errors, key=lambda e: (e.path, e.line, e.col, e.message)
        )
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class DriverError(OrchError):
    """A tmux, git or process call failed; transient, retried on the next tick."""

    def __init__(self, cmd: Sequence[str] | str, stderr: str) -> None:
        self.cmd = cmd if isinstance(cmd, str) else " ".join(cmd)
        self.stderr = stderr.strip()
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.cmd}: {self.stderr}" if self.stderr else self.cmd


# stderr of failures that go away by themselves: another git process holds a lock,
# the index is busy, a call timed out, a tmux server was restarting.
_TRANSIENT = (
    ".lock': File exists",
    "index.lock",
    "cannot lock ref",
    "Another git process",
    "Resource temporarily unavailable",
    "timed out",
    "server exited unexpectedly",
)


def is_transient(message: str) -> bool:
    """Whether an error message says the failure is worth a quick retry.

    Examples
    --------
    >>> is_transient("git worktree add: fatal: Unable to create '/r/.git/index.lock': File exists.")
    True
    >>> is_transient("git worktree add: fatal: invalid reference: nope")
    False
    """
    return any(marker in message for marker in _TRANSIENT)


class StateError(OrchError):
    """orch's runtime state under state/ is malformed in a way it will not guess about."""


class Refused(OrchError):
    """An action orch will not take because it could lose or mix up work; never retried."""


class LockHeld(OrchError):
    """Another reconciler holds the control repo's lock."""

    exit_code = 3

    def __init__(self, holder: str) -> None:
        self.holder = holder
        super().__init__(f"locked by {holder}")


class MassPruneBlocked(OrchError):
    """A pass would remove more workers than reconcile.maxPruneFraction allows."""

    def __init__(self, count: int, total: int, fraction: float) -> None:
        self.count = count
        self.total = total
        super().__init__(
            f"refusing to remove {count} of {total} workers in one pass "
            f"(more than reconcile.maxPruneFraction={fraction}); "
            "rerun with --allow-mass-prune if this is intended, or approve it once "
            "with `orch approve-prune`"
        )


class UsageError(OrchError):
    """A command was called with something that does not exist or does not fit."""


class UnknownWorker(UsageError):
    """A command named a worker orch neither has in its specs nor knows; close names suggested."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        import difflib

        close = difflib.get_close_matches(name, sorted(set(known)), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see orch status"
        super().__init__(f'no worker "{name}" in the specs or known to orch{hint}')
