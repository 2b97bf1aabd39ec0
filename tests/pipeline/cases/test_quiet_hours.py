"""Quiet hours in the recipient's zone, across midnight and daylight-saving changes.

Expected instants are worked out by hand from each zone's rules (2026): New York springs
forward on 8 March at 02:00 EST (-5 → -4) and falls back on 1 November at 02:00 EDT;
Shanghai is +8 all year; Lord Howe moves half an hour, +10:30 → +11 on 4 October at 02:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.cases.quiet_hours import (
    DEFAULT_QUIET_HOURS,
    next_allowed_time,
    overrides_quiet_hours,
    parse_clock,
)
from pipeline.models import AuditEvent
from tests import sched_data as data

NIGHT = DEFAULT_QUIET_HOURS  # 21:00–08:00


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_outside_quiet_hours_is_now() -> None:
    now = utc(2026, 6, 1, 15, 0)  # 11:00 in New York
    assert next_allowed_time(now, "America/New_York", NIGHT) == now


def test_off_when_none_or_empty_window() -> None:
    now = utc(2026, 6, 1, 3, 0)  # 23:00 in New York
    assert next_allowed_time(now, "America/New_York", None) == now
    assert next_allowed_time(now, "America/New_York", {"start": "09:00", "end": "09:00"}) == now


def test_evening_waits_for_next_morning_in_shanghai() -> None:
    # 22:00 CST on 1 June → 08:00 CST on 2 June = 00:00 UTC.
    assert next_allowed_time(utc(2026, 6, 1, 14, 0), "Asia/Shanghai", NIGHT) == utc(2026, 6, 2)


def test_after_midnight_waits_for_same_morning() -> None:
    # 03:00 CST on 2 June → 08:00 CST the same day.
    assert next_allowed_time(utc(2026, 6, 1, 19, 0), "Asia/Shanghai", NIGHT) == utc(2026, 6, 2)


def test_start_is_quiet_and_end_is_not() -> None:
    assert next_allowed_time(utc(2026, 6, 1, 13, 0), "Asia/Shanghai", NIGHT) == utc(2026, 6, 2)
    assert next_allowed_time(utc(2026, 6, 2, 0, 0), "Asia/Shanghai", NIGHT) == utc(2026, 6, 2)
    one_second_early = utc(2026, 6, 1, 23, 59, 59)
    assert next_allowed_time(one_second_early, "Asia/Shanghai", NIGHT) == utc(2026, 6, 2)


def test_same_instant_differs_by_zone() -> None:
    now = utc(2026, 6, 1, 14, 0)  # 22:00 Shanghai, 10:00 New York
    assert next_allowed_time(now, "America/New_York", NIGHT) == now
    assert next_allowed_time(now, "Asia/Shanghai", NIGHT) > now


def test_window_within_one_day() -> None:
    lunch = {"start": "12:00", "end": "14:00"}
    assert next_allowed_time(utc(2026, 6, 1, 5), "Asia/Shanghai", lunch) == utc(2026, 6, 1, 6)
    assert next_allowed_time(utc(2026, 6, 1, 7), "Asia/Shanghai", lunch) == utc(2026, 6, 1, 7)
    assert next_allowed_time(utc(2026, 6, 1, 3), "Asia/Shanghai", lunch) == utc(2026, 6, 1, 3)


def test_new_york_spring_forward_night_is_an_hour_shorter() -> None:
    # 00:00 EST on 8 March; the morning is 08:00 EDT = 12:00 UTC, not 13:00.
    assert next_allowed_time(utc(2026, 3, 8, 5), "America/New_York", NIGHT) == utc(2026, 3, 8, 12)


def test_new_york_fall_back_night_is_an_hour_longer() -> None:
    # 00:30 EDT on 1 November; the morning is 08:00 EST = 13:00 UTC.
    got = next_allowed_time(utc(2026, 11, 1, 4, 30), "America/New_York", NIGHT)
    assert got == utc(2026, 11, 1, 13)


def test_window_ending_inside_the_spring_gap_ends_at_the_jump() -> None:
    # 02:30 never happens on 8 March; at 01:00 EST the wait is until the jump at 07:00 UTC.
    early = {"start": "00:00", "end": "02:30"}
    got = next_allowed_time(utc(2026, 3, 8, 6), "America/New_York", early)
    assert got == utc(2026, 3, 8, 7)


def test_window_starting_inside_the_spring_gap_starts_at_the_jump() -> None:
    late = {"start": "02:30", "end": "08:00"}
    before_jump = utc(2026, 3, 8, 6, 59, 59)  # 01:59:59 EST
    assert next_allowed_time(before_jump, "America/New_York", late) == before_jump
    assert next_allowed_time(utc(2026, 3, 8, 7), "America/New_York", late) == utc(2026, 3, 8, 12)


def test_window_ending_in_the_repeated_hour_ends_at_its_first_pass() -> None:
    early = {"start": "00:00", "end": "01:30"}
    # 00:30 EDT → 01:30 EDT = 05:30 UTC.
    got = next_allowed_time(utc(2026, 11, 1, 4, 30), "America/New_York", early)
    assert got == utc(2026, 11, 1, 5, 30)
    # 01:10 EST, the second pass through 01:xx: the window already ended.
    second_pass = utc(2026, 11, 1, 6, 10)
    assert next_allowed_time(second_pass, "America/New_York", early) == second_pass


def test_lord_howe_half_hour_shift() -> None:
    # 00:30 LHST (+10:30) on 4 October → 08:00 LHDT (+11) = 21:00 UTC on 3 October.
    got = next_allowed_time(utc(2026, 10, 3, 14), "Australia/Lord_Howe", NIGHT)
    assert got == utc(2026, 10, 3, 21)
    # A window ending at 02:15, inside the half-hour gap, ends at the jump (02:00 LHST).
    early = {"start": "01:00", "end": "02:15"}
    got = next_allowed_time(utc(2026, 10, 3, 15), "Australia/Lord_Howe", early)
    assert got == utc(2026, 10, 3, 15, 30)


def test_unknown_zone_is_read_as_utc() -> None:
    assert next_allowed_time(utc(2026, 6, 1, 22), "Mars/Olympus", NIGHT) == utc(2026, 6, 2, 8)


def test_bad_clock_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="25h"):
        parse_clock("25h")


def test_only_security_incidents_may_override() -> None:
    assert overrides_quiet_hours("security_incident", {"override_quiet_hours": True})
    assert not overrides_quiet_hours("security_incident", {})
    assert not overrides_quiet_hours("product_quality", {"override_quiet_hours": True})


ZONES = ["America/New_York", "Asia/Shanghai", "Australia/Lord_Howe", "Europe/London", "UTC"]


@given(
    moment=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)),
    zone=st.sampled_from(ZONES),
    start=st.integers(0, 23),
    end=st.integers(0, 23),
)
def test_result_is_never_quiet_and_never_far(
    moment: datetime, zone: str, start: int, end: int
) -> None:
    now = moment.replace(tzinfo=UTC)
    window = {"start": f"{start:02d}:00", "end": f"{end:02d}:00"}
    allowed = next_allowed_time(now, zone, window)
    assert now <= allowed <= now + timedelta(hours=25)
    assert next_allowed_time(allowed, zone, window) == allowed
    if allowed > now:  # the wait ends at the window's end on the local clock (or a DST jump)
        local = allowed.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) >= (end, 0) or local.hour == end + 1


def test_security_incident_override_lets_through_and_is_audited(sqlite_engine: Engine) -> None:
    from pipeline.cases.quiet_hours import allowed_time_for_case

    night, day = utc(2026, 6, 1, 14), utc(2026, 6, 1, 4)  # 22:00 and 12:00 in Shanghai
    with Session(sqlite_engine) as session:
        person = data.recipient(session, timezone="Asia/Shanghai")
        incident = data.campaign(
            session,
            reason="security_incident",
            quiet_hours=NIGHT,
            spec={"override_quiet_hours": True},
        )
        ordinary = data.campaign(session, quiet_hours=NIGHT, spec={"override_quiet_hours": True})
        urgent, normal = data.case(session, incident, person), data.case(session, ordinary, person)

        assert allowed_time_for_case(session, urgent, night) == night
        assert allowed_time_for_case(session, normal, night) == utc(2026, 6, 2)
        assert allowed_time_for_case(session, urgent, day) == day
        overrides = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "quiet_hours.override")
        ).all()
    assert [event.entity for event in overrides] == [f"case:{urgent.id}"]


def test_clock_with_seconds_is_accepted() -> None:
    assert parse_clock("21:00:00") == parse_clock("21:00")
    with pytest.raises(ValueError):
        parse_clock("21")
