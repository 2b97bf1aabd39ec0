"""Working days: Monday to Friday, less the holidays of ``RECALL_HOLIDAYS``.

The complaint policy counts its deadlines in working days. A deadline of N working days
from a moment is the same clock time on the Nth working day after it; a moment that falls
on a day off counts from the start (00:00) of the next working day, so a complaint that
arrives on a Saturday gets the same deadline as one that arrives first thing on Monday.
Dates are read in UTC, the time every stored timestamp is in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path

from pipeline.clock import as_utc

WEEKEND = frozenset({5, 6})  # Saturday, Sunday (date.weekday())


class HolidayError(ValueError):
    """A holiday calendar that cannot be read; the message names the entry."""


def parse_holidays(value: str | None) -> frozenset[date]:
    """``2026-01-01,2026-05-01`` — or the path of a file with one ISO date per line
    (``#`` starts a comment). Empty: no holidays."""
    text = (value or "").strip()
    if not text:
        return frozenset()
    if "," not in text and not _looks_like_date(text):
        return _holidays_from_file(Path(text))
    return frozenset(_parse_dates(text.split(","), "RECALL_HOLIDAYS"))


def _looks_like_date(text: str) -> bool:
    return len(text) == 10 and text[4] == "-" and text[:4].isdigit()


def _holidays_from_file(path: Path) -> frozenset[date]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise HolidayError(f"RECALL_HOLIDAYS: cannot read {path}: {error}") from error
    days = []
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            days += _parse_dates([entry], f"{path}:{number}")
    return frozenset(days)


def _parse_dates(entries: Iterable[str], where: str) -> list[date]:
    days = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            days.append(date.fromisoformat(entry))
        except ValueError:
            raise HolidayError(f"{where}: {entry!r} is not an ISO date (YYYY-MM-DD)") from None
    return days


def is_working_day(day: date, holidays: frozenset[date] = frozenset()) -> bool:
    return day.weekday() not in WEEKEND and day not in holidays


def next_working_day(day: date, holidays: frozenset[date] = frozenset()) -> date:
    """The first working day strictly after ``day``."""
    day += timedelta(days=1)
    while not is_working_day(day, holidays):
        day += timedelta(days=1)
    return day


def add_working_days(
    start: datetime, days: int, holidays: frozenset[date] = frozenset()
) -> datetime:
    """``start`` plus ``days`` working days (see the module docstring); days >= 0."""
    if days < 0:
        raise ValueError("days must be zero or more")
    moment = as_utc(start)
    if not is_working_day(moment.date(), holidays):
        first = next_working_day(moment.date(), holidays)
        moment = datetime.combine(first, time.min, tzinfo=moment.tzinfo)
    day = moment.date()
    for _ in range(days):
        day = next_working_day(day, holidays)
    return datetime.combine(day, moment.timetz())


def working_days_between(start: date, end: date, holidays: frozenset[date] = frozenset()) -> int:
    """How many working days lie in (start, end]: 0 when end <= start."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day, holidays)
    return count
