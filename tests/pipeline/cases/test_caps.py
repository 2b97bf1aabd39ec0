"""Frequency caps per recipient across campaigns, over a sliding 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.cases.caps import daily_cap, next_capped_time, within_caps
from pipeline.settings import get_settings
from tests import sched_data as data

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Session:
    with Session(engine) as session:
        yield session  # type: ignore[misc]


def test_caps_come_from_settings() -> None:
    settings = get_settings()
    assert daily_cap("sms") == settings.max_sms_per_day
    assert daily_cap("voice") == settings.max_calls_per_day
    assert daily_cap("email") == settings.max_emails_per_day
    with pytest.raises(ValueError, match="fax"):
        daily_cap("fax")


def test_sms_cap_counts_every_campaign(session: Session) -> None:
    person = data.recipient(session)
    cases = [data.case(session, data.campaign(session), person) for _ in range(3)]
    cap = daily_cap("sms")
    for i in range(cap):
        assert within_caps(session, person.id, "sms", NOW)
        data.attempt(session, cases[i % 3], "sms", NOW - timedelta(hours=i + 1))
    assert not within_caps(session, person.id, "sms", NOW)
    # Other channels and other people are unaffected.
    assert within_caps(session, person.id, "email", NOW)
    assert within_caps(session, data.recipient(session).id, "sms", NOW)


def test_old_and_refused_attempts_do_not_count(session: Session) -> None:
    person = data.recipient(session)
    one = data.case(session, data.campaign(session), person)
    for _ in range(daily_cap("voice")):
        data.attempt(session, one, "voice", NOW - timedelta(hours=25))
        data.attempt(session, one, "voice", NOW, status="permanent_failure")
    assert within_caps(session, person.id, "voice", NOW)


def test_next_capped_time_is_when_the_oldest_ages_out(session: Session) -> None:
    person = data.recipient(session)
    one = data.case(session, data.campaign(session), person)
    assert next_capped_time(session, person.id, "sms", NOW) == NOW
    times = [NOW - timedelta(hours=h) for h in (20, 9, 2, 1)][-daily_cap("sms") :]
    for moment in times:
        data.attempt(session, one, "sms", moment)
    assert next_capped_time(session, person.id, "sms", NOW) == times[0] + timedelta(hours=24)
    # One more than the cap: two must age out.
    data.attempt(session, one, "sms", NOW - timedelta(minutes=5))
    assert next_capped_time(session, person.id, "sms", NOW) == times[1] + timedelta(hours=24)
