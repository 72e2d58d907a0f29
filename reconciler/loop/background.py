"""One call in a thread while the caller works on: a pass lists tmux while it reads files."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def in_background(fn: Callable[[], T], name: str = "background") -> Callable[[], T]:
    """Start ``fn`` in a thread; the function returned waits for its result or raises its error.

    >>> result = in_background(lambda: 6 * 7)
    >>> result()
    42
    """
    out: list[T] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread
            err.append(e)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if err:
            raise err[0]
        return out[0]

    return result
