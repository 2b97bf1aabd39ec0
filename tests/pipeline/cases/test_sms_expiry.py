"""An SMS that expired unsent (Twilio 30036) is sent again, under the same attempt, at the
recipient's next allowed time before the deadline; any other failure, a late expiry of an
old step, or one expiry too many fails the step as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.cases.delivery import Taken, begin_send, record_result
from pipeline.cases.notify import Outcome, notify_case
from pipeline.cases.sms_expiry import TWILIO_EXPIRED, expiries, may_retry
from pipeline.channel_port import SendResult
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.models import Attempt, Case, InboundEvent
from pipeline.settings import get_settings
from tests import inbound_rows as rows


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


def _expired(session: Session, sid: str, code: str = TWILIO_EXPIRED) -> InboundEvent:
    payload = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": code}
    return rows.inbound(session, "twilio", "sms_status", payload)


def _quiet_now(session: Session, case: Case) -> datetime:
    """Quiet hours around now in the recipient's zone (UTC); returns when they end."""
    now = utcnow()
    end = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    start = now - timedelta(hours=1)
    case.campaign.quiet_hours = {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
    case.recipient.timezone = "UTC"
    session.flush()
    return end


def _resend(session: Session, case: Case, sid: str) -> Attempt:
    """What case.notify and channel.send do once the case is due again."""
    due = case.next_due_at
    assert due is not None
    result = notify_case(session, case.id, due, get_settings())
    assert result.outcome is Outcome.SEND and result.attempt_id is not None
    taken = begin_send(session, result.attempt_id, due, get_settings())
    assert isinstance(taken, Taken)
    record_result(session, result.attempt_id, SendResult(provider_id=sid), due)
    attempt = session.get(Attempt, result.attempt_id)
    assert attempt is not None
    return attempt


def test_an_expired_sms_is_sent_again_when_quiet_hours_end(session: Session) -> None:
    case = rows.case(session, rows.campaign(session), rows.recipient(session))
    sent = rows.attempt(session, case, status="sent")
    quiet_until = _quiet_now(session, case)

    outcome = process_inbound_event(session, _expired(session, sent.provider_id or "").id)
    assert outcome == []
    assert sent.status == "claimed" and case.step == 0 and case.state == "awaiting_response"
    assert case.next_due_at == quiet_until, "not before the person's quiet hours end"

    again = _resend(session, case, "SMagain")
    assert again.id == sent.id and again.status == "sent" and again.provider_id == "SMagain"
    assert again.tries == 1
    assert case.step == 0 and case.state == "awaiting_response"
    count = select(func.count()).select_from(Attempt).where(Attempt.case_id == case.id)
    assert session.scalar(count) == 1, "one attempt key for the step, sent once at a time"
    # The old message's own late news finds no attempt any more: it cannot move the case.
    assert session.scalar(select(Attempt).where(Attempt.provider_id == sent.provider_id)) is None


def test_other_failures_and_old_steps_fail_as_before(session: Session) -> None:
    case = rows.case(session, rows.campaign(session), rows.recipient(session))
    sent = rows.attempt(session, case, status="sent")
    process_inbound_event(session, _expired(session, sent.provider_id or "", "30003").id)
    assert sent.status == "failed" and case.step == 1

    later = rows.case(session, rows.campaign(session), rows.recipient(session), step=1)
    old = rows.attempt(session, later, status="sent", step=0)
    process_inbound_event(session, _expired(session, old.provider_id or "").id)
    assert old.status == "failed" and later.step == 1, "an old step's expiry is history"


def test_no_retry_past_the_deadline(session: Session) -> None:
    case = rows.case(session, rows.campaign(session), rows.recipient(session))
    sent = rows.attempt(session, case, status="sent")
    quiet_until = _quiet_now(session, case)
    case.campaign.deadline = quiet_until - timedelta(minutes=30)
    process_inbound_event(session, _expired(session, sent.provider_id or "").id)
    assert sent.status == "failed" and case.step == 1


def test_one_expiry_too_many_fails_the_step(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "sms_expiry_retries", 2)
    case = rows.case(session, rows.campaign(session), rows.recipient(session))
    attempt = rows.attempt(session, case, status="sent")
    for n in (1, 2):
        process_inbound_event(session, _expired(session, attempt.provider_id or "").id)
        assert attempt.status == "claimed" and expiries(attempt) == n
        attempt = _resend(session, case, f"SMretry{n}")
    process_inbound_event(session, _expired(session, attempt.provider_id or "").id)
    assert attempt.status == "failed" and case.step == 1


@given(
    code=st.sampled_from([TWILIO_EXPIRED, "30003", "30005", "", None]),
    channel=st.sampled_from(["sms", "email", "voice"]),
    step=st.integers(0, 3),
    case_step=st.integers(0, 3),
    state=st.sampled_from(["notifying", "awaiting_response", "completed", "opted_out"]),
    seen=st.integers(0, 5),
    limit=st.integers(0, 4),
)
def test_only_an_expiry_of_the_current_sms_step_with_retries_left_is_retried(
    code: str | None, channel: str, step: int, case_step: int, state: str, seen: int, limit: int
) -> None:
    attempt = Attempt(channel=channel, step=step, status_history=[{"code": TWILIO_EXPIRED}] * seen)
    case = Case(step=case_step, state=state)
    retried = may_retry(attempt, case, code, limit)
    assert retried == (
        code == TWILIO_EXPIRED
        and channel == "sms"
        and step == case_step
        and state in ("notifying", "awaiting_response")
        and seen <= limit
    )
