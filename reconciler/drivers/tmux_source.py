"""A private, short-lived file of tmux commands, for one ``tmux source-file`` call.

tmux carries a command line given as argv in one message of about 16 KB, so a
thousand windows given as argv need some seventy calls; ``source-file`` reads a
file of any length in one. The file holds values from the specs (commands,
paths), so it lives in a folder of its own that only this user can read, and
is removed once the call is over, however it ended.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from reconciler.drivers.tmux_argv import glob_escape


@contextlib.contextmanager
def command_file(lines: Sequence[str]) -> Iterator[str]:
    """Write ``lines`` to a new 0600 file in a new private temp folder; yield its path.

    The path is glob-escaped, as ``source-file`` takes it (it expands glob
    patterns). Folder and file are removed when the block ends, even by an
    exception.
    """
    with tempfile.TemporaryDirectory(prefix="orch-tmux-") as folder:
        path = Path(folder).absolute() / "windows.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            # surrogateescape: a path that is not UTF-8 keeps its bytes.
            out.write("".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape"))
        yield glob_escape(str(path))
