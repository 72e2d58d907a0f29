"""Paths written in specs: resolved and checked without ever raising.

A spec may hold any string; one with a NUL byte or a 300-character part makes
``pathlib`` raise ValueError or OSError. These helpers turn that into a
problem text for a SpecError.
"""

from __future__ import annotations

from pathlib import Path


def resolve(root: Path, rel: str) -> Path:
    """``root / rel`` resolved (``~`` is the home folder), or as it is when the OS cannot."""
    try:
        return (root / Path(rel).expanduser()).resolve()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a ~user that does not exist
        return root / rel


def file_problem(root: Path, rel: str, what: str) -> str | None:
    """Why ``rel`` is not a file inside ``root`` (or None when it is)."""
    try:
        target = (root / rel).resolve()
        if not target.is_relative_to(root.resolve()):
            return f'{what} "{rel}" resolves outside the control repo'
        if not target.is_file():
            return f'{what} "{rel}" not found (looked at {target})'
    except (OSError, ValueError) as err:
        return f'{what} "{rel}" is not a usable path: {_why(err)}'
    return None


def repo_problem(path: Path, given: str) -> str | None:
    """Why ``path`` is not a git repository on disk (or None when it is)."""
    try:
        if not path.exists():
            return f'path "{given}" does not exist (resolved to {path})'
        if not ((path / ".git").exists() or (path / "HEAD").is_file()):
            return f'path "{given}" is not a git repository (no .git in {path})'
    except (OSError, ValueError) as err:
        return f'path "{given}" is not a usable path: {_why(err)}'
    return None


def _why(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)
