"""Durations as people write them in campaign files: ``30s``, ``15m``, ``24h``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$")
# Longer than any recall; also keeps ``now + wait`` far from datetime's year 9999.
LONGEST = timedelta(days=3660)


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """``"2d"`` → 2 days. A bare number is seconds. Raises ValueError on anything else."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 30s, 15m, 24h or 2d")
    if isinstance(text, int | float):
        seconds: float = text
    elif isinstance(text, str) and len(text) < 100 and _WHOLE.match(text.lower()):
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text.lower()))
    else:
        shown = repr(text)[:40]
        raise ValueError(f"{shown} is not a duration; write it like 30s, 15m, 24h or 2d")
    if not -LONGEST.total_seconds() <= seconds <= LONGEST.total_seconds():  # also NaN
        raise ValueError(f"{text!r} is longer than {LONGEST.days} days")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling: 90 minutes → ``1h30m``; zero → ``0s``."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
