"""Durations as people write them in campaign files: ``30s``, ``15m``, ``24h``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """``"2d"`` → 2 days. A bare number is seconds. Raises ValueError on anything else."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 30s, 15m, 24h or 2d")
    if isinstance(text, int | float):
        return timedelta(seconds=text)
    if not isinstance(text, str) or not _WHOLE.match(text.lower()):
        raise ValueError(f"{text!r} is not a duration; write it like 30s, 15m, 24h or 2d")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text.lower()))
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
