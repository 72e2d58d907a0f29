"""Run tmux commands on orch's own socket and return their raw output.

orch owns one tmux server (``tmux -L <socket>``), so a user's own tmux is never
touched. Every state change here is ONE tmux invocation whose commands are
chained with a ``;`` argv element: tmux runs the chain in its command queue
before it reads any pane output, so a window gets ``remain-on-exit`` and its
``pipe-pane`` log before its command can print or exit.

Arguments are passed as argv, never through a shell; the escaping tmux still
needs is done where the argv is built, in :mod:`reconciler.drivers.tmux_argv`.

libtmux is imported lazily (inside :meth:`Tmux._server`): CLI start-up time matters.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.core.errors import DriverError
from reconciler.drivers.tmux_argv import (
    CHAIN_BYTES,
    WindowSpec,
    chain,
    env_flags,
    escape_format,
    option_commands,
    pipe_command,
    window_commands,
)

if TYPE_CHECKING:
    import libtmux

__all__ = ["Tmux", "WindowSpec"]

# stderr of a tmux client that found no server on the socket: not an error when observing.
_GONE_SERVER = ("no server running", "error connecting to", "No such file or directory")
# ... plus a server met while it shuts down (seen right after kill-server).
_NO_SERVER = (*_GONE_SERVER, "server exited unexpectedly")
# stderr of a kill whose target is already gone.
_GONE = ("can't find window", "can't find session", "can't find pane", *_NO_SERVER)


def _prepare_spawn(cwd: str, log_path: str) -> None:
    """Check the start directory and create the log's folder.

    tmux silently starts a pane in another directory when ``-c`` does not exist,
    so a missing ``cwd`` is an error here rather than an agent running elsewhere.
    """
    if not Path(cwd).is_dir():
        raise DriverError("tmux", f"start directory does not exist: {cwd}")
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)


class Tmux:
    """The tmux server on one socket (``tmux -L socket``).

    Parameters
    ----------
    socket : str
        The socket name, as given to ``tmux -L``.
    """

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self._server_obj: libtmux.Server | None = None

    def _server(self) -> libtmux.Server:
        if self._server_obj is None:
            import libtmux

            self._server_obj = libtmux.Server(socket_name=self.socket)
        return self._server_obj

    def _call(self, argv: Sequence[str]) -> tuple[list[str], list[str], int]:
        """Run one tmux invocation; return stdout lines, stderr lines and the exit code."""
        proc = self._server().cmd(*argv)
        return list(proc.stdout), list(proc.stderr), int(proc.returncode or 0)

    def run(self, *args: str) -> list[str]:
        """Run one tmux command (or a ``;`` chain) and return its stdout lines.

        Arguments are passed as they are (no ``;`` escaping): a ``";"`` argument
        separates commands.

        Raises
        ------
        DriverError
            ``"tmux <subcommand>: <stderr>"`` on any stderr or a non-zero exit code.
        """
        stdout, stderr, code = self._call(args)
        if stderr or code != 0:
            cmd = f"tmux {args[0]}"
            raise DriverError(cmd, "\n".join(stderr) or f"exit code {code}")
        return stdout

    def _run_tolerating(self, args: Sequence[str], tolerated: Sequence[str]) -> bool:
        """Run a command; return False (no error) when its stderr says one of ``tolerated``."""
        _, stderr, code = self._call(args)
        if not stderr and code == 0:
            return True
        text = "\n".join(stderr)
        if any(marker in text for marker in tolerated):
            return False
        cmd = f"tmux {args[0]}"
        raise DriverError(cmd, text or f"exit code {code}")

    def list_panes(self, fmt: str) -> str | None:
        """Every pane of the server, one ``list-panes -a -F fmt`` line each.

        Parameters
        ----------
        fmt : str
            The tmux format of one line.

        Returns
        -------
        str or None
            The raw stdout, lines joined by ``"\\n"``; None when no server runs on
            the socket (that is a state, not an error).
        """
        stdout, stderr, code = self._call(["list-panes", "-a", "-F", fmt])
        if stderr or code != 0:
            text = "\n".join(stderr)
            if any(marker in text for marker in _NO_SERVER):
                return None
            raise DriverError("tmux list-panes", text or f"exit code {code}")
        return "\n".join(stdout)

    @staticmethod
    def reap(server_pid: int) -> None:
        """Make the server collect exits it missed: send it SIGCHLD.

        Measured on tmux 3.3a (linked with libutempter): the server sometimes
        loses the SIGCHLD of a pane's process, so the pane shows ``pane_dead`` 1
        with no ``pane_dead_status`` or ``pane_dead_signal`` and the process stays
        a zombie. A SIGCHLD makes its handler run ``waitpid`` again at once. (An
        earlier ``run-shell true`` before each listing did the same, but could
        itself wait forever on a lost child.)
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(server_pid, signal.SIGCHLD)

    def ensure_session(self, session: str) -> bool:
        """Create ``session`` with a ``dashboard`` window unless it exists.

        Creation is one call that also sets the server's ``default-shell`` to
        ``/bin/sh`` (orch owns its socket; commands handed to tmux are then
        shell-independent). A session created concurrently by someone else counts
        as existing.

        Returns
        -------
        bool
            True if this call created the session.
        """
        _, stderr, code = self._call(["has-session", "-t", f"={session}"])
        if not stderr and code == 0:
            return False
        argv = chain(
            [
                ["new-session", "-d", "-s", session, "-n", "dashboard"],
                ["set-option", "-g", "default-shell", "/bin/sh"],
            ]
        )
        return self._run_tolerating(argv, ("duplicate session",))

    def start_window(
        self,
        session: str,
        index: int,
        name: str,
        cwd: str,
        command: str,
        env: Mapping[str, str],
        log_path: str,
        options: Mapping[str, str],
    ) -> None:
        """Open window ``session:index`` running ``command``, logged and labelled.

        One chained call: ``new-window -d``, ``remain-on-exit on`` (so even a command
        that exits at once keeps its status in ``#{pane_dead_status}``),
        ``pipe-pane 'cat >> LOG'`` and one ``set-option -w`` per option. With ``-d``
        each later command targets the new window explicitly.

        Parameters
        ----------
        session, index : str, int
            Where the window goes; the index must be free.
        name : str
            The window name (display only; ownership is by options).
        cwd : str
            The start directory; it must exist.
        command : str
            A shell command line for ``/bin/sh -c``, already quoted by the caller.
        env : Mapping[str, str]
            Variables set in the window's environment (``-e K=V``).
        log_path : str
            File the pane's output is appended to; its folder is created.
        options : Mapping[str, str]
            Window user options, e.g. ``{"@orch-worker": "a"}``.
        """
        spec = WindowSpec(session, index, name, cwd, command, dict(env), log_path, dict(options))
        self.start_windows([spec])

    def start_windows(self, specs: Sequence[WindowSpec]) -> None:
        """Open several windows, each as :meth:`start_window` does, in as few calls as fit.

        tmux carries a command line in one message of limited size, so the chain
        is cut into calls of at most ``CHAIN_BYTES``. A failing call raises; the
        windows of earlier calls exist.
        """
        batch: list[list[str]] = []
        size = 0
        for spec in specs:
            _prepare_spawn(spec.cwd, spec.log_path)
            commands = window_commands(spec)
            length = sum(len(part) + 1 for command in commands for part in command)
            if batch and size + length > CHAIN_BYTES:
                self.run(*chain(batch))
                batch, size = [], 0
            batch += commands
            size += length
        if batch:
            self.run(*chain(batch))

    def respawn_window(
        self,
        target: str,
        cwd: str,
        command: str,
        env: Mapping[str, str],
        log_path: str,
        options: Mapping[str, str],
    ) -> None:
        """Run ``command`` again in the pane of ``target``, logging to ``log_path``.

        One chained call: ``respawn-pane -k``, ``pipe-pane 'cat >> LOG'`` (which
        replaces the old pipe) and one ``set-option -w`` per option.

        Stop the pane's process first (:func:`reconciler.drivers.proc.stop_process_group`)
        and wait until :meth:`list_panes` shows the pane dead with its status or
        signal: measured on tmux 3.3a, respawning a pane whose process is still
        alive loses the NEXT exit status (``pane_dead_status`` stays empty).
        ``pipe-pane`` must come after the respawn: on a dead pane it fails with
        "target pane has exited".

        Parameters
        ----------
        target : str
            The window, e.g. ``"orch:3"``.
        cwd, command, env, log_path, options
            As for :meth:`start_window`.
        """
        _prepare_spawn(cwd, log_path)
        start_dir = escape_format(cwd)
        respawn = ["respawn-pane", "-k", "-t", target, "-c", start_dir, *env_flags(env)]
        argv = chain(
            [
                [*respawn, "--", command],
                pipe_command(target, log_path),
                *option_commands(target, options),
            ]
        )
        self.run(*argv)

    def kill_window(self, target: str) -> None:
        """Kill window ``target``; a window (or server) already gone is no error."""
        self._run_tolerating(chain([["kill-window", "-t", target]]), _GONE)

    def set_window_options(self, target: str, options: Mapping[str, str]) -> None:
        """Set window user options on ``target`` in one chained call."""
        if options:
            self.run(*chain(option_commands(target, options)))

    def capture(self, target: str, lines: int) -> str:
        """The last ``lines`` lines of the pane's history and screen, wrapped lines joined."""
        return "\n".join(
            self.run(*chain([["capture-pane", "-p", "-J", "-S", f"-{lines}", "-t", target]]))
        )

    def kill_server(self, wait: float = 5.0) -> None:
        """Kill the server on the socket and wait until it is gone; no server is no error.

        ``kill-server`` returns before the server has exited; a client that
        connects meanwhile gets "server exited unexpectedly". Waiting (at most
        ``wait`` seconds) makes a following ``ensure_session`` start a new server.
        The socket file stays (tmux 3.3a does not remove it).
        """
        if not self._run_tolerating(["kill-server"], _NO_SERVER):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _, stderr, _ = self._call(["list-sessions"])
            if any(marker in line for line in stderr for marker in _GONE_SERVER):
                return
            time.sleep(0.01)
