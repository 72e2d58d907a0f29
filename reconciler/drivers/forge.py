"""Run a hosting service's CLI (gh, glab): argv only, with a timeout; return stdout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from reconciler.core.errors import DriverError

CLIS = ("gh", "glab")


def available() -> set[str]:
    """The hosting CLIs on PATH."""
    return {cli for cli in CLIS if shutil.which(cli)}


def run_cli(argv: list[str], cwd: Path | None = None, timeout: float = 120.0) -> str:
    """Run ``argv``; its stdout, or DriverError naming the command and its stderr."""
    name = " ".join(argv[:3])
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as err:
        raise DriverError(name, f"{argv[0]} is not installed (not found on PATH)") from err
    except subprocess.TimeoutExpired as err:
        raise DriverError(name, f"timed out after {timeout:g}s") from err
    except OSError as err:
        raise DriverError(name, str(err)) from err
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip() or f"exit {done.returncode}"
        raise DriverError(name, detail)
    return done.stdout
