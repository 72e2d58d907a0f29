"""Build tmux argv: commands chained into one invocation, escaped for tmux.

Arguments are passed as argv, never through a shell. Two tmux rules still apply
to argv and are handled here, in :func:`escape_arg` and :func:`escape_format`:

- an argument ending in ``;`` ends the command (``"a;"`` becomes ``a`` plus a
  separator); a trailing ``;`` is escaped as ``\\;``;
- the window name (``-n``), the start directory (``-c``) and the ``pipe-pane``
  command are expanded as tmux formats, so ``#`` is doubled there.

Everything here is pure; :mod:`reconciler.drivers.tmux` runs what it builds.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def escape_arg(value: str) -> str:
    """Escape a trailing ``;`` so tmux keeps it as text, not as a command separator.

    Examples
    --------
    >>> escape_arg("echo hi;")
    'echo hi\\\\;'
    >>> escape_arg("plain")
    'plain'
    """
    return value[:-1] + "\\;" if value.endswith(";") else value


def escape_format(value: str) -> str:
    """Escape ``#`` in an argument tmux expands as a format.

    Examples
    --------
    >>> escape_format("/tmp/a#b")
    '/tmp/a##b'
    """
    return value.replace("#", "##")


def chain(commands: Iterable[Sequence[str]]) -> list[str]:
    """Join tmux commands into one argv, separated by ``;`` elements.

    Examples
    --------
    >>> chain([["kill-window", "-t", "s:1;"], ["kill-window", "-t", "s:2"]])
    ['kill-window', '-t', 's:1\\\\;', ';', 'kill-window', '-t', 's:2']
    """
    argv: list[str] = []
    for command in commands:
        if argv:
            argv.append(";")
        argv.extend(escape_arg(part) for part in command)
    return argv


def env_flags(env: Mapping[str, str]) -> list[str]:
    """``-e K=V`` pairs for ``new-window`` and ``respawn-pane``."""
    flags: list[str] = []
    for key, value in env.items():
        flags += ["-e", f"{key}={value}"]
    return flags


def option_commands(target: str, options: Mapping[str, str]) -> list[list[str]]:
    """One ``set-option -w`` per window option; ``--`` lets a value start with ``-``."""
    return [["set-option", "-w", "-t", target, "--", key, value] for key, value in options.items()]


def pipe_command(target: str, log_path: str) -> list[str]:
    """``pipe-pane`` appending the pane's output to ``log_path`` (a shell string tmux expands)."""
    return ["pipe-pane", "-t", target, escape_format(f"cat >> {shlex.quote(log_path)}")]


CHAIN_BYTES = 12_000  # tmux's client message holds 16 KiB


@dataclass(frozen=True)
class WindowSpec:
    """One window to open: where, what runs in it, its log and its options."""

    session: str
    index: int
    name: str
    cwd: str
    command: str
    env: Mapping[str, str]
    log_path: str
    options: Mapping[str, str]


def window_commands(spec: WindowSpec) -> list[list[str]]:
    """new-window, remain-on-exit, pipe-pane and the options, all aimed at the new window."""
    target = f"{spec.session}:{spec.index}"
    name, cwd = escape_format(spec.name), escape_format(spec.cwd)
    new_window = ["new-window", "-d", "-t", target, "-n", name, "-c", cwd]
    # The options come right after new-window: should the chain stop later, the
    # window is still one orch owns and will clean up.
    return [
        [*new_window, *env_flags(spec.env), "--", spec.command],
        *option_commands(target, spec.options),
        ["set-option", "-w", "-t", target, "remain-on-exit", "on"],
        pipe_command(target, spec.log_path),
    ]
