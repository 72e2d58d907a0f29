"""Drivers: the only modules that run processes (tmux, git, signals).

A driver makes no decisions. It turns one request into one command (or one
chained command, or one file of commands tmux sources), returns the raw text
it printed, and raises :class:`~reconciler.core.errors.DriverError` when the
command failed. Parsing lives in
``reconciler.core.observed``; choosing what to run lives in ``reconciler.core.plan``.

Submodules are imported by name (``from reconciler.drivers.tmux import Tmux``);
this package imports nothing, so loading it costs no libtmux or GitPython start-up.
"""
