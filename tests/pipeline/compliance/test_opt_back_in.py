"""A send counts as "after an opt-out" only while the person was opted out on its channel:
after a STOP and before the next START. Re-subscribing makes later sends legitimate again."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.compliance.sends import sends_after_opt_out
from pipeline.db import session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.models import Attempt, Case, FollowUpSend
from tests import inbound_rows as rows

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


def _person(session: Session) -> Case:
    return rows.case(session, rows.campaign(session), rows.recipient(session))


def _reply(session: Session, case: Case, body: str, at: datetime) -> None:
    """The person texts ``body``, handled at ``at`` (that is when it is recorded)."""
    with time_machine.travel(at, tick=False):
        process_inbound_event(session, rows.sms(session, case.recipient.phone or "", body).id)


_steps = itertools.count(1)


def _send(session: Session, case: Case, at: datetime, channel: str = "sms") -> None:
    step = next(_steps)  # one attempt per (case, channel, step)
    session.add(Attempt(case_id=case.id, channel=channel, step=step, status="sent", sent_at=at))
    session.flush()


def test_a_send_after_stop_is_counted(session: Session) -> None:
    case = _person(session)
    _reply(session, case, "STOP", T0)
    _send(session, case, T0 + timedelta(minutes=1))
    assert sends_after_opt_out(session, case.campaign_id) == 1


def test_a_send_after_stop_then_start_is_not_counted(session: Session) -> None:
    case = _person(session)
    _reply(session, case, "STOP", T0)
    _reply(session, case, "START", T0 + timedelta(minutes=1))
    _send(session, case, T0 + timedelta(minutes=2))
    # The opt-in confirmation goes out after the START: also legitimate.
    session.add(FollowUpSend(key="in1", case_id=case.id, channel="sms",
                             kind="opt_in_confirmation", status="sent",
                             sent_at=T0 + timedelta(minutes=1, seconds=1)))  # fmt: skip
    assert sends_after_opt_out(session, case.campaign_id) == 0
    # A send while they were still out (between the STOP and the START) still counts,
    # and so does one after a second STOP.
    _send(session, case, T0 + timedelta(seconds=30))
    assert sends_after_opt_out(session, case.campaign_id) == 1
    _reply(session, case, "STOP", T0 + timedelta(minutes=3))
    _send(session, case, T0 + timedelta(minutes=4))
    assert sends_after_opt_out(session, case.campaign_id) == 2


def test_a_start_on_sms_does_not_end_an_email_opt_out(session: Session) -> None:
    case = _person(session)
    unsubscribe = rows.inbound(
        session,
        "sendgrid",
        "email_event",
        {"event": "unsubscribe", "email": case.recipient.email, "case_id": str(case.id)},
    )
    with time_machine.travel(T0, tick=False):
        process_inbound_event(session, unsubscribe.id)
    _reply(session, case, "STOP", T0 + timedelta(minutes=1))
    _reply(session, case, "START", T0 + timedelta(minutes=2))
    _send(session, case, T0 + timedelta(minutes=3), channel="email")  # still out: counted
    _send(session, case, T0 + timedelta(minutes=3), channel="sms")  # back in: not counted
    assert sends_after_opt_out(session, case.campaign_id) == 1


# A timeline of a person's STOP / START replies and sends, a minute apart.
EVENTS = st.lists(st.sampled_from(["STOP", "START", "send"]), min_size=1, max_size=8)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(EVENTS)
def test_a_send_counts_exactly_when_the_last_word_before_it_was_stop(
    session: Session, events: list[str]
) -> None:
    case = _person(session)
    expected, out = 0, False
    for minute, event in enumerate(events):
        at = T0 + timedelta(minutes=minute)
        if event == "send":
            _send(session, case, at)
            expected += out
        else:
            _reply(session, case, event, at)
            out = event == "STOP"
    assert sends_after_opt_out(session, case.campaign_id) == expected
