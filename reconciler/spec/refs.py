"""Git's rules for branch names (``git check-ref-format --branch``), checked without git."""

from __future__ import annotations

import re

_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def ref_problem(name: str) -> str | None:
    """Why git would refuse ``name`` as a branch, or None when it is fine.

    Examples
    --------
    >>> ref_problem("orch/w-1") is None
    True
    >>> ref_problem("feature.lock")
    'a part ends with ".lock"'
    >>> ref_problem("a//b")
    'has an empty part ("//" or a leading or trailing "/")'
    """
    checks = [
        (name.startswith("-"), 'starts with "-"'),
        (name == "@", 'is "@"'),
        (bool(_BAD_CHARS.search(name)), "has a space, control character or one of ~^:?*[\\"),
        (".." in name, 'has ".."'),
        ("@{" in name, 'has "@{"'),
        (
            any(not part for part in name.split("/")),
            'has an empty part ("//" or a leading or trailing "/")',
        ),
        (any(part.startswith(".") for part in name.split("/")), 'a part starts with "."'),
        (any(part.endswith(".lock") for part in name.split("/")), 'a part ends with ".lock"'),
        (name.endswith("."), 'ends with "."'),
    ]
    for bad, why in checks:
        if bad:
            return why
    return None
