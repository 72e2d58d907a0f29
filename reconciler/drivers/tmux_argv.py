"""Build tmux commands: argv chained into one invocation, or lines of a file tmux sources.

Most calls pass argv, never through a shell. Two tmux rules still apply to argv
and are handled here, in :func:`escape_arg` and :func:`escape_format`:

- an argument ending in ``;`` ends the command (``"a;"`` becomes ``a`` plus a
  separator); a trailing ``;`` is escaped as ``\\;``;
- the window name (``-n``), the start directory (``-c``) and the ``pipe-pane``
  command are expanded as tmux formats, so ``#`` is doubled there (but
  before ``[``); the ``pipe-pane`` command goes through strftime(3) first, so
  ``%`` is doubled too.

New windows are opened by ``tmux source-file`` from a file of commands, one
line per window: :func:`config_line` renders commands in tmux's configuration
language (every argument double-quoted by :func:`config_quote`). Format
expansion still applies there; the trailing ``;`` rule does not.

Everything here is pure; :mod:`reconciler.drivers.tmux` runs what it builds.
"""

from __future__ import annotations

import re
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


# A run of ``#`` that no ``#`` or ``[`` follows (format.c, format_expand1, tmux 3.3a:
# ``##`` gives ``#``, but a run of ``#`` before ``[`` is a style, kept as it is).
_HASHES = re.compile(r"#+(?![#\[])")


def escape_format(value: str) -> str:
    """Escape ``#`` in an argument tmux expands as a format.

    Each ``#`` is doubled, except in a run of ``#`` just before ``[``: tmux
    leaves such a run as it is (a style for later drawing), doubled or not.

    Examples
    --------
    >>> escape_format("/tmp/a#b##")
    '/tmp/a##b####'
    >>> escape_format("/tmp/#[x]##[y]")
    '/tmp/#[x]##[y]'
    """
    return _HASHES.sub(lambda run: run.group() * 2, value)


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
    """``pipe-pane`` appending the pane's output to ``log_path``.

    tmux passes the shell string through strftime(3), then expands it as a
    format (cmd-pipe-pane.c, tmux 3.3a): ``%`` is doubled, then ``#``.

    Examples
    --------
    >>> pipe_command("s:1", "/logs/100%#1.log")[-1]
    "cat >> '/logs/100%%##1.log'"
    """
    shell = f"cat >> {shlex.quote(log_path)}"
    return ["pipe-pane", "-t", target, escape_format(shell).replace("%", "%%")]


# What a double-quoted token of tmux's configuration language gives another
# meaning (cmd-parse.y, yylex_token, tmux 3.3a): a backslash starts an escape, ``"``
# ends the quotes, ``$`` and ``~`` expand; a raw newline ends nothing but drops
# the next line's indent and comment. Control characters are written as octal
# escapes so a line stays one line. Everything else (``#``, ``;``, ``'``,
# spaces, UTF-8) is literal inside double quotes.
_CONFIG_ESCAPES = {
    **{c: f"\\{c:03o}" for c in (*range(0x20), 0x7F)},
    **{ord(c): f"\\{c}" for c in '\\"$~'},
}


def config_quote(value: str) -> str:
    r"""``value`` as one double-quoted argument of tmux's configuration language.

    Raises
    ------
    ValueError
        ``value`` holds a NUL, which no tmux argument can carry.

    Examples
    --------
    >>> print(config_quote('a "b" $HOME ~ #{x} ;'))
    "a \"b\" \$HOME \~ #{x} ;"
    >>> print(config_quote("two\nlines\\"))
    "two\012lines\\"
    >>> print(config_quote("é"))
    "é"
    """
    if "\0" in value:
        msg = f"a NUL in a tmux argument: {value[:40]!r}"
        raise ValueError(msg)
    return '"' + value.translate(_CONFIG_ESCAPES) + '"'


def config_line(commands: Iterable[Sequence[str]]) -> str:
    """Commands as ONE line of a file for ``tmux source-file``, joined by ``" ; "``.

    tmux runs each line of such a file as its own command group: a failing
    command skips the rest of its line only. Arguments are taken as they are
    (no :func:`escape_arg`: a quoted trailing ``;`` is literal in a file).

    Examples
    --------
    >>> print(config_line([["kill-window", "-t", "s:1;"], ["set-option", "@a", "x y"]]))
    "kill-window" "-t" "s:1;" ; "set-option" "@a" "x y"
    """
    return " ; ".join(" ".join(config_quote(part) for part in command) for command in commands)


def glob_escape(path: str) -> str:
    r"""``path`` with glob(3)'s special characters escaped, for ``tmux source-file``.

    Examples
    --------
    >>> print(glob_escape("/tmp/a[1]*?\\b"))
    /tmp/a\[1]\*\?\\b
    """
    return "".join(f"\\{c}" if c in "\\*?[" else c for c in path)


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
