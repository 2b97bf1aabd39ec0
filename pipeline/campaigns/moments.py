"""Moments in time as people write them in a campaign file.

YAML gives a ``date`` or a ``datetime`` for an unquoted ``2027-06-30`` /
``2027-06-30T17:00:00``, and a string for the same thing quoted — many people quote dates.
Every form means the same here. A moment written without a zone is UTC; a bare date means
the end of that day for a deadline and its start for a check time. Anything else is a
ValueError with an example of what to write, which the campaign file reports with its line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import BeforeValidator

from pipeline.clock import utcnow
from pipeline.durations import parse_duration

LATEST_YEAR = 9000  # past this, adding a wait or changing zones overflows datetime
_EXAMPLE = "write it like 2027-06-30 or 2027-06-30T17:00:00+02:00; without a zone it is UTC"


def as_utc(moment: datetime) -> datetime:
    """``moment`` with a zone: a naive one is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_moment(value: Any, day_time: time) -> datetime:
    """A zone-aware datetime from a YAML date, datetime or ISO string; ``day_time`` is the
    time a bare date stands for."""
    if isinstance(value, str):
        value = _from_iso(value.strip())
    if isinstance(value, datetime):
        moment = as_utc(value)
    elif isinstance(value, date):
        moment = datetime.combine(value, day_time, tzinfo=UTC)
    else:
        raise ValueError(f"expected a date or datetime; {_EXAMPLE}")
    if moment.year >= LATEST_YEAR:
        raise ValueError(f"too far in the future ({moment.year}); {_EXAMPLE}")
    return moment


def _from_iso(text: str) -> date | datetime:
    try:
        return date.fromisoformat(text) if len(text) <= 10 else datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a date or datetime; {_EXAMPLE}") from None


def deadline_moment(value: Any) -> datetime:
    """A deadline: a date (end of that day), a datetime, or a duration from now (``28d``)."""
    if isinstance(value, str) and value.strip()[-1:].isalpha() and "-" not in value:
        try:
            return utcnow() + parse_duration(value)
        except ValueError:
            raise ValueError(
                f"{value[:40]!r} is neither a duration (28d) nor a date; {_EXAMPLE}"
            ) from None
    return parse_moment(value, time(23, 59, 59))


def _moment_at(day_time: time) -> Callable[[Any], datetime]:
    return lambda value: parse_moment(value, day_time)


CheckAt = Annotated[datetime, BeforeValidator(_moment_at(time(0, 0)))]
