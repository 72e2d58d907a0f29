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


# tmux's client sends a command's argv in ONE message (client.c: cmd_pack_argv into a
# MAX_IMSGSIZE buffer): measured on tmux 3.3a, the packed argv (each argument's UTF-8 bytes
# plus a NUL) may hold 16364 bytes; 16365 fails ("failed to send command"; longer ones
# "command too long"). A chain stays well below, at 12000.
TMUX_ARGV_LIMIT = 16_364
CHAIN_BYTES = 12_000


def packed_size(argv: Sequence[str]) -> int:
    """The bytes tmux's client packs ``argv`` into: each argument's UTF-8 bytes and a NUL.

    Examples
    --------
    >>> packed_size(["new-window", "-n", "é"])
    17
    """
    return sum(len(part.encode("utf-8", "surrogateescape")) + 1 for part in argv)


def chain_batches(
    groups: Iterable[Sequence[Sequence[str]]], limit: int = CHAIN_BYTES
) -> list[list[str]]:
    """Chain groups of commands into as few argvs as fit ``limit`` bytes each.

    A group (one window's commands) is never split across calls: its commands
    must run in one command queue. A group longer than ``limit`` alone goes in
    a call of its own while it fits tmux's own limit.

    Raises
    ------
    ValueError
        A group alone is longer than tmux accepts in one call.

    Examples
    --------
    >>> cmds = [[["a", "1"], ["b"]], [["c"]], [["d" * 5]]]
    >>> chain_batches(cmds, limit=12)
    [['a', '1', ';', 'b', ';', 'c'], ['ddddd']]
    """
    out: list[list[str]] = []
    current: list[str] = []
    used = 0
    for group in groups:
        argv = chain(group)
        size = packed_size(argv)
        if size > TMUX_ARGV_LIMIT:
            msg = f"{size} bytes in one tmux call (tmux takes {TMUX_ARGV_LIMIT}): {argv[:6]}"
            raise ValueError(msg)
        if current and used + 2 + size > limit:  # 2: the ";" and its NUL
            out.append(current)
            current, used = [], 0
        if current:
            current.append(";")
            used += 2
        current += argv
        used += size
    if current:
        out.append(current)
    return out


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
