"""Typing into a window and reading its screen: what a person at the pane would do.

Only interactive agents are typed into (`orch send`) or read from (their
first-run screens); tmux runs through :class:`reconciler.drivers.tmux.Tmux`.
"""

from __future__ import annotations

from reconciler.drivers.tmux import Tmux
from reconciler.drivers.tmux_argv import chain

# A moment between the text and its Enter: a TUI that sees both in one read takes
# the Enter as part of a paste (a new line), not as "submit".
ENTER_DELAY = 0.3


def send_text(tmux: Tmux, target: str, text: str, *, enter: bool = True) -> None:
    """Type ``text`` literally into ``target``'s pane, then Enter as a key of its own."""
    import time

    if text:
        tmux.run(*chain([["send-keys", "-t", target, "-l", "--", text]]))
    if enter:
        time.sleep(ENTER_DELAY)
        tmux.run(*chain([["send-keys", "-t", target, "Enter"]]))


def screen(tmux: Tmux, target: str) -> str:
    """The pane's visible screen, as text (no history, no escape sequences)."""
    return "\n".join(tmux.run(*chain([["capture-pane", "-p", "-t", target]])))
