"""Durations as written in specs ("30s", "10m", "1h30m", "200ms") and back; UTC timestamps."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ValueError for anything else.

    Examples
    --------
    >>> parse_duration("1h30m"), parse_duration("200ms"), parse_duration("2.5s")
    (5400.0, 0.2, 2.5)
    """
    text = text.strip()
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        msg = f'bad duration "{text}": use forms like "30s", "10m", "2h", "1h30m"'
        raise ValueError(msg)
    return total


def format_age(seconds: float | None) -> str:
    """A short human age: ``"42s"``, ``"5m"``, ``"3h12m"``, ``"2d"``; ``"-"`` for None.

    Examples
    --------
    >>> format_age(42), format_age(330), format_age(11520), format_age(None)
    ('42s', '5m', '3h12m', '-')
    """
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h{m}m" if m else f"{h}h"
    return f"{s // 86400}d"


def utc_iso(ts: float | None) -> str | None:
    """``2026-11-27T01:02:03Z`` or None.

    Examples
    --------
    >>> utc_iso(0), utc_iso(None)
    ('1970-01-01T00:00:00Z', None)
    """
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def iso_age(iso: object, now: float) -> float | None:
    """Seconds from the ``utc_iso`` time ``iso`` to ``now``; None when it is not one.

    Examples
    --------
    >>> iso_age("1970-01-01T00:01:00Z", 90.0), iso_age(None, 90.0), iso_age("soon", 1.0)
    (30.0, None, None)
    """
    seconds = utc_seconds(iso) if isinstance(iso, str) else None
    return None if seconds is None else now - seconds


_UTC_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def utc_seconds(iso: str) -> float | None:
    """The epoch seconds of a ``utc_iso`` time; None for anything else.

    ``time.strptime`` would do, but its first call compiles locale-aware
    patterns (milliseconds a command), and `orch status` parses one a worker.

    Examples
    --------
    >>> utc_seconds("1970-01-01T00:01:00Z"), utc_seconds("1970-13-01T00:00:00Z")
    (60.0, None)
    >>> utc_seconds("1970-01-01 00:01:00"), utc_seconds("soon")
    (None, None)
    """
    if not _UTC_ISO.fullmatch(iso):
        return None
    try:
        return datetime.fromisoformat(iso[:-1]).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
