"""The one Jinja2 environment for the dashboard pages, with its display filters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

from pipeline.clock import utcnow

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def ago(moment: datetime | None) -> str:
    """ "3m ago" / "in 2h": short enough for a phone screen."""
    if moment is None:
        return "–"
    seconds = int((utcnow() - moment).total_seconds())
    text = _span(abs(seconds))
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def stamp(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters["percent"] = percent
templates.env.filters["ago"] = ago
templates.env.filters["stamp"] = stamp
