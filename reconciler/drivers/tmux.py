"""Run tmux commands on orch's own socket and return their raw output.

orch owns one tmux server (``tmux -L <socket>``), so a user's own tmux is never
touched. Every state change here is ONE tmux invocation whose commands are
chained with a ``;`` argv element, or, for new windows, the lines of one file
run by ``source-file``: tmux runs them in its command queue before it reads any
pane output, so a window gets ``remain-on-exit`` and its ``pipe-pane`` log
before its command can print or exit.

Arguments are passed as argv, never through a shell; the escaping tmux still
needs is done where the argv is built, in :mod:`reconciler.drivers.tmux_argv`.

Every call has a timeout (:class:`Tmux`'s ``timeout``): a hung server must not
hang the reconciler. orch's server never reads the user's tmux configuration
(``-f /dev/null``): a ``base-index``, ``default-command`` or hook set there
would change what orch observes and starts.

libtmux is imported lazily (inside :meth:`Tmux._server`), psutil on a timeout
only: CLI start-up time matters.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.core.errors import DriverError
from reconciler.drivers.tmux_argv import (
    WindowSpec,
    chain,
    config_line,
    env_flags,
    escape_format,
    option_commands,
    pipe_command,
    window_commands,
)
from reconciler.drivers.tmux_client import kill_hung_client

if TYPE_CHECKING:
    import libtmux
    from libtmux.common import tmux_cmd

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


# Seconds a window may add to the timeout of the call that opens it with others.
PER_WINDOW = 0.05


class Tmux:
    """The tmux server on one socket (``tmux -L socket``).

    Parameters
    ----------
    socket : str
        The socket name, as given to ``tmux -L``.
    timeout : float
        Seconds any one tmux call may take; a slower one raises
        ``DriverError("tmux <subcommand>", "timed out after Ns")``.
    """

    def __init__(self, socket: str, timeout: float = 10.0) -> None:
        self.socket = socket
        self.timeout = timeout
        self._server_obj: libtmux.Server | None = None

    def _server(self) -> libtmux.Server:
        if self._server_obj is None:
            import libtmux

            # libtmux passes config_file as -f on every call; it counts when a call
            # starts the server, which then reads nothing of the user's.
            self._server_obj = libtmux.Server(socket_name=self.socket, config_file="/dev/null")
        return self._server_obj

    def _call(
        self, argv: Sequence[str], timeout: float | None = None
    ) -> tuple[list[str], list[str], int]:
        """Run one tmux invocation; return stdout lines, stderr lines and the exit code.

        libtmux's ``tmux_cmd`` waits for its client without a limit, so the call
        runs in a worker thread joined with ``timeout`` (default: the driver's).
        On a timeout the hung client is killed
        (:func:`~reconciler.drivers.tmux_client.kill_hung_client`) and the
        worker left behind.

        Raises
        ------
        DriverError
            ``"tmux <subcommand>: timed out after Ns"``; ``"tmux: tmux is not
            installed"`` when no tmux is on PATH.
        """
        server = self._server()
        outcome: list[tmux_cmd | Exception] = []

        def work() -> None:
            try:
                outcome.append(server.cmd(*argv))
            except Exception as err:  # noqa: BLE001 - raised again in the caller's thread
                outcome.append(err)

        worker = threading.Thread(target=work, name=f"tmux {argv[0]}", daemon=True)
        worker.start()
        limit = self.timeout if timeout is None else timeout
        worker.join(limit)
        if worker.is_alive():
            kill_hung_client(worker, self.socket, argv)
            cmd = f"tmux {argv[0]}"
            raise DriverError(cmd, f"timed out after {limit:g}s")
        result = outcome[0]
        if isinstance(result, Exception):
            from libtmux import exc

            if isinstance(result, exc.TmuxCommandNotFound):
                raise DriverError("tmux", "tmux is not installed (not found on PATH)")
            raise result
        return list(result.stdout), list(result.stderr), int(result.returncode or 0)

    def run(self, *args: str) -> list[str]:
        """Run one tmux command (or a ``;`` chain) and return its stdout lines.

        Arguments are passed as they are (no ``;`` escaping): a ``";"`` argument
        separates commands.

        Raises
        ------
        DriverError
            ``"tmux <subcommand>: <stderr>"`` on any stderr or a non-zero exit
            code, ``"tmux <subcommand>: timed out after Ns"`` past ``timeout``.
        """
        return self._output(args) or []  # never None: nothing is tolerated

    def _output(
        self, args: Sequence[str], tolerated: Sequence[str] = (), timeout: float | None = None
    ) -> list[str] | None:
        """As :meth:`run`, but None (no error) when the stderr says one of ``tolerated``."""
        stdout, stderr, code = self._call(args, timeout)
        if not stderr and code == 0:
            return stdout
        text = "\n".join(stderr)
        if any(marker in text for marker in tolerated):
            return None
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
        stdout = self._output(["list-panes", "-a", "-F", fmt], _NO_SERVER)
        return None if stdout is None else "\n".join(stdout)

    def pane_pid(self, target: str) -> int | None:
        """The pid of the live process in the pane of ``target``, or None.

        Read again just before a signal goes to the pane's process group. One
        call: ``list-panes -t target -F ''`` (blank lines), then ``display-message
        -p -t target '#{pane_pid} #{pane_dead}'``. Measured on tmux 3.3a:
        display-message alone does not fail on a missing target but prints the
        session's current pane (another pane's pid) or nothing; list-panes
        fails there, and a failing command ends the chain.

        Parameters
        ----------
        target : str
            A window or pane, e.g. ``"orch:3"``, ``"@4"``, ``"%7"``.

        Returns
        -------
        int or None
            The pid; None when the pane is dead, or its window, session or the
            server is gone.
        """
        argv = chain(
            [
                ["list-panes", "-t", target, "-F", ""],
                ["display-message", "-p", "-t", target, "#{pane_pid} #{pane_dead}"],
            ]
        )
        stdout = self._output(argv, _GONE)
        fields = stdout[-1].split() if stdout else []
        if len(fields) != 2 or not fields[0].isdigit() or fields[1] != "0":
            return None
        return int(fields[0])

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

    def ensure_session(self, session: str, dashboard: Sequence[str] = ()) -> bool:
        """Create ``session`` with a ``dashboard`` window unless it exists.

        That window runs the argv ``dashboard`` (no shell between), else a shell.
        Creation is one call that also sets the server's ``default-shell`` to
        ``/bin/sh`` (orch owns its socket; commands handed to tmux are then
        shell-independent). A server this call starts reads no configuration
        file (``-f /dev/null``). A session created concurrently by someone else
        counts as existing. Returns True if this call created the session.
        """
        _, stderr, code = self._call(["has-session", "-t", f"={session}"])
        if not stderr and code == 0:
            return False
        command = ["--", *dashboard] if dashboard else []
        argv = chain(
            [
                ["new-session", "-d", "-s", session, "-n", "dashboard", *command],
                ["set-option", "-g", "default-shell", "/bin/sh"],
            ]
        )
        return self._output(argv, ("duplicate session",)) is not None

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

        One command group: ``new-window -d``, one ``set-option -w`` per option,
        ``remain-on-exit on`` (so even a command that exits at once keeps its
        status in ``#{pane_dead_status}``) and ``pipe-pane 'cat >> LOG'``. With
        ``-d`` each later command targets the new window explicitly.

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
        """Open windows as :meth:`start_window` does, all in ONE ``tmux source-file`` call.

        Each window's commands are one line of a private temporary file
        (:mod:`~reconciler.drivers.tmux_source`); tmux runs each line as its own
        group, so a failing command skips the rest of its window only, the
        others open, and DriverError is raised. No command-length limit applies;
        the call may take ``PER_WINDOW`` seconds a window more than others.
        """
        for spec in specs:
            _prepare_spawn(spec.cwd, spec.log_path)
        if not specs:
            return
        try:
            lines = [config_line(window_commands(spec)) for spec in specs]
        except ValueError as err:
            raise DriverError("tmux new-window", str(err)) from None
        from reconciler.drivers.tmux_source import command_file  # tempfile: only to open windows

        with command_file(lines) as path:
            self._output(["source-file", path], timeout=self.timeout + PER_WINDOW * len(specs))

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
        self._output(chain([["kill-window", "-t", target]]), _GONE)

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
        if self._output(["kill-server"], _NO_SERVER) is None:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _, stderr, _ = self._call(["list-sessions"])
            if any(marker in line for line in stderr for marker in _GONE_SERVER):
                return
            time.sleep(0.01)
