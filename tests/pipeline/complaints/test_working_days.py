from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.complaints.working_days import (
    HolidayError,
    add_working_days,
    is_working_day,
    parse_holidays,
    working_days_between,
)

FRIDAY = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)
HOLIDAY = frozenset({date(2026, 3, 9)})  # the Monday after


def test_a_friday_plus_one_working_day_is_monday_same_time() -> None:
    assert add_working_days(FRIDAY, 1) == datetime(2026, 3, 9, 15, 30, tzinfo=UTC)


def test_a_holiday_monday_pushes_it_to_tuesday() -> None:
    assert add_working_days(FRIDAY, 1, HOLIDAY) == datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


def test_a_saturday_counts_from_the_start_of_the_next_working_day() -> None:
    saturday = datetime(2026, 3, 7, 22, 0, tzinfo=UTC)
    assert add_working_days(saturday, 0, HOLIDAY) == datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
    assert add_working_days(saturday, 3, HOLIDAY) == datetime(2026, 3, 13, 0, 0, tzinfo=UTC)


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match="zero or more"):
        add_working_days(FRIDAY, -1)


def test_holidays_from_a_list_and_from_a_file(tmp_path: Path) -> None:
    assert parse_holidays(" 2026-01-01, 2026-05-01 ,") == {date(2026, 1, 1), date(2026, 5, 1)}
    assert parse_holidays("2026-10-01") == {date(2026, 10, 1)}
    assert parse_holidays("") == frozenset()
    calendar = tmp_path / "holidays.txt"
    calendar.write_text("# national days\n2026-10-01\n\n2026-10-02  # second\n", "utf-8")
    assert parse_holidays(str(calendar)) == {date(2026, 10, 1), date(2026, 10, 2)}


def test_a_bad_holiday_is_located(tmp_path: Path) -> None:
    with pytest.raises(HolidayError, match=r"RECALL_HOLIDAYS: '2026-13-01' is not an ISO date"):
        parse_holidays("2026-01-01,2026-13-01")
    calendar = tmp_path / "days.txt"
    calendar.write_text("2026-01-01\nnew year\n", "utf-8")
    with pytest.raises(HolidayError, match=r"days.txt:2: 'new year'"):
        parse_holidays(str(calendar))
    with pytest.raises(HolidayError, match="cannot read"):
        parse_holidays(str(tmp_path / "missing.txt"))


moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
holiday_sets = st.frozensets(st.dates(date(2020, 1, 1), date(2031, 3, 1)), max_size=40)


@given(moments, st.integers(0, 30), holiday_sets)
def test_the_deadline_lands_on_a_working_day_n_working_days_on(
    start: datetime, days: int, holidays: frozenset[date]
) -> None:
    due = add_working_days(start, days, holidays)
    assert due >= start
    assert is_working_day(due.date(), holidays)
    first = start.date() if is_working_day(start.date(), holidays) else None
    counted = working_days_between(start.date(), due.date(), holidays)
    # From a working day, exactly N working days later; from a day off, the first working
    # day counts as day zero.
    assert counted == (days if first else days + 1)
    if first:
        assert due.timetz() == start.timetz()


@given(moments, st.integers(0, 20), holiday_sets)
def test_one_more_working_day_is_never_earlier(
    start: datetime, days: int, holidays: frozenset[date]
) -> None:
    assert add_working_days(start, days + 1, holidays) > add_working_days(start, days, holidays)
    assert add_working_days(start, days, holidays) - start < timedelta(days=7 * (days + 1) + 60)
