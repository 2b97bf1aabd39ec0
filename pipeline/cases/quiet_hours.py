"""Quiet hours: no message or call reaches a person at night in their own time zone.

A window such as ``{"start": "21:00", "end": "08:00"}`` is read in the recipient's zone and
may cross midnight. Each night's window is turned into a span of real (UTC) time before it is
compared with ``now``, so daylight-saving changes behave: a window edge that falls in a
spring-forward gap moves to the end of the gap, and one that falls in a fall-back overlap is
its first occurrence (the repeated hour after it is not quiet again).

A ``security_incident`` campaign may override quiet hours (``override_quiet_hours`` in its
file); each time it does so for a case, that is written to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from pipeline.clock import as_utc
from pipeline.models import Case
from pipeline.privacy import audit

log = logging.getLogger(__name__)

DEFAULT_QUIET_HOURS: dict[str, str] = {"start": "21:00", "end": "08:00"}
OVERRIDE_REASON = "security_incident"


def parse_clock(value: str) -> time:
    """``"21:00"`` (or ``"21:00:00"``) → ``time(21, 0)``; else a ValueError naming the value."""
    try:
        parts = [int(part) for part in str(value).split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        hours, minutes, seconds = (*parts, 0)[:3]
        return time(hours, minutes, seconds)
    except ValueError:
        raise ValueError(f"quiet hours time {value!r} is not HH:MM") from None


def zone_for(tz_name: str | None) -> ZoneInfo:
    """The recipient's zone; an unknown name falls back to UTC rather than stop sending."""
    try:
        return ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("quiet_hours.unknown_timezone", extra={"timezone": tz_name})
        return ZoneInfo("UTC")


def first_instant_at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The first real instant at which the wall clock in ``zone`` shows ``day clock`` or later.

    Normally that wall time itself (its first occurrence if it repeats). Inside a
    spring-forward gap the wall time never happens; the answer is the moment the clock jumps.
    """
    wall = datetime.combine(day, clock)
    early = wall.replace(tzinfo=zone, fold=0)
    if _exists(early):
        return early.astimezone(UTC)
    # In a gap, fold=1 reads the wall time with the offset after the jump (an instant before
    # the jump) and fold=0 with the offset before it (an instant after). Bisect between them;
    # offsets change on whole seconds.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(early.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _exists(moment: datetime) -> bool:
    round_trip = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return round_trip.replace(tzinfo=None) == moment.replace(tzinfo=None)


def quiet_window_around(
    now: datetime, zone: ZoneInfo, quiet_hours: Mapping[str, str]
) -> tuple[datetime, datetime] | None:
    """The quiet window (UTC start, UTC end) that contains ``now``, or None."""
    start, end = parse_clock(quiet_hours["start"]), parse_clock(quiet_hours["end"])
    if start == end:
        return None
    crosses_midnight = start > end
    today = as_utc(now).astimezone(zone).date()
    for day in (today - timedelta(days=1), today):
        window_start = first_instant_at(day, start, zone)
        end_day = day + timedelta(days=1) if crosses_midnight else day
        window_end = first_instant_at(end_day, end, zone)
        if window_start <= now < window_end:
            return window_start, window_end
    return None


def next_allowed_time(
    now: datetime, tz_name: str | None, quiet_hours: Mapping[str, str] | None
) -> datetime:
    """``now`` when a person in ``tz_name`` may be contacted now; otherwise the end of their
    quiet window, in UTC. ``quiet_hours`` None means quiet hours are off."""
    now = as_utc(now)
    if not quiet_hours:
        return now
    window = quiet_window_around(now, zone_for(tz_name), quiet_hours)
    return now if window is None else window[1]


def overrides_quiet_hours(campaign_reason: str, spec: Mapping[str, Any] | None) -> bool:
    """Only a security incident may reach people at night, and only when its file says so."""
    return campaign_reason == OVERRIDE_REASON and bool((spec or {}).get("override_quiet_hours"))


def allowed_time_for_case(session: Session, case: Case, now: datetime) -> datetime:
    """When ``case`` may be contacted, honouring its campaign's quiet hours and override.

    An override that actually lets a message through quiet hours is audited (one event per
    case and time), so night-time contact can always be accounted for.
    """
    campaign, recipient = case.campaign, case.recipient
    allowed = next_allowed_time(now, recipient.timezone, campaign.quiet_hours)
    if allowed <= as_utc(now) or not overrides_quiet_hours(campaign.reason, campaign.spec):
        return allowed
    audit.record(
        session,
        actor="scheduler",
        action="quiet_hours.override",
        entity=f"case:{case.id}",
        data={
            "campaign_id": campaign.id,
            "step": case.step,
            "timezone": recipient.timezone,
            "quiet_until": allowed.isoformat(),
        },
    )
    return as_utc(now)
