"""pipeline.cases.delivery: one provider call per attempt, retries bounded, outcomes recorded."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException

from channels.base import ChannelError, FailureKind, SendFailure, SendResult
from channels.errors import classify_twilio_error
from pipeline.cases.delivery import SendOutcome, deliver_attempt
from pipeline.cases.notify import notify_case
from pipeline.models import Attempt, Campaign, Case
from pipeline.settings import Settings
from tests.pipeline_factories import NOW, RecordingChannel, make_campaign, make_case

SETTINGS = Settings(send_inline_tries=3, send_inline_wait_seconds=0, max_send_tries=4)
TRANSIENT = SendFailure(FailureKind.TRANSIENT, "429", "too many requests")
PERMANENT = SendFailure(FailureKind.PERMANENT, "21211", "invalid number")


def claimed(engine: Engine, **case_fields: object) -> tuple[int, int]:
    with Session(engine) as session:
        case = make_case(session, make_campaign(session), **case_fields)
        result = notify_case(session, case.id, NOW, SETTINGS)
        session.commit()
        assert result.attempt_id is not None
        return case.id, result.attempt_id


def deliver(engine: Engine, attempt_id: int, channel: RecordingChannel) -> SendOutcome:
    return deliver_attempt(
        attempt_id, lambda kind: channel, SETTINGS, engine=engine, clock=lambda: NOW
    )


def load(engine: Engine, case_id: int, attempt_id: int) -> tuple[Case, Attempt]:
    with Session(engine) as session:
        case, attempt = session.get(Case, case_id), session.get(Attempt, attempt_id)
        assert case is not None and attempt is not None
        return case, attempt


def test_a_send_happens_once_however_often_it_is_delivered(engine: Engine) -> None:
    case_id, attempt_id = claimed(engine)
    channel = RecordingChannel()
    assert deliver(engine, attempt_id, channel) is SendOutcome.SENT
    assert deliver(engine, attempt_id, channel) is SendOutcome.NOT_OURS
    assert channel.sent == [(case_id, 0)]
    case, attempt = load(engine, case_id, attempt_id)
    assert (attempt.status, attempt.provider_id, attempt.cost_units) == ("sent", "SM0", 1.0)
    assert (case.state, case.next_due_at) == ("awaiting_response", NOW + timedelta(minutes=1))


def test_transient_failures_are_retried_in_process_then_handed_to_dramatiq(engine: Engine) -> None:
    case_id, attempt_id = claimed(engine)
    channel = RecordingChannel(script=[SendResult(failure=TRANSIENT), ChannelError(TRANSIENT)])
    assert deliver(engine, attempt_id, channel) is SendOutcome.SENT
    assert channel.sent == [(case_id, 0)]

    case_id, attempt_id = claimed(engine, phone="+15559990000")
    channel = RecordingChannel(script=[ChannelError(TRANSIENT)] * 3)
    with pytest.raises(ChannelError):
        deliver(engine, attempt_id, channel)
    _, attempt = load(engine, case_id, attempt_id)
    assert (attempt.status, attempt.tries, attempt.error_code) == ("claimed", 1, "429")


def test_a_step_fails_after_max_send_tries_and_the_case_moves_on(engine: Engine) -> None:
    case_id, attempt_id = claimed(engine)
    channel = RecordingChannel(script=[ChannelError(TRANSIENT)] * 12)
    for _ in range(SETTINGS.max_send_tries - 1):
        with pytest.raises(ChannelError):
            deliver(engine, attempt_id, channel)
    assert deliver(engine, attempt_id, channel) is SendOutcome.FAILED
    case, attempt = load(engine, case_id, attempt_id)
    assert (attempt.status, attempt.tries) == ("failed", SETTINGS.max_send_tries)
    assert (case.state, case.step, case.next_due_at) == ("awaiting_response", 1, NOW)


def test_permanent_failure_is_recorded_and_the_next_step_is_due(engine: Engine) -> None:
    case_id, attempt_id = claimed(engine)
    channel = RecordingChannel(script=[SendResult(failure=PERMANENT)])
    assert deliver(engine, attempt_id, channel) is SendOutcome.PERMANENT_FAILURE
    case, attempt = load(engine, case_id, attempt_id)
    assert (attempt.status, attempt.error_code, attempt.tries) == ("permanent_failure", "21211", 1)
    assert (case.state, case.step) == ("awaiting_response", 1)


@pytest.mark.parametrize(("code", "opted_out"), [("21610", True), ("21211", False)])
def test_twilios_unsubscribed_refusal_opts_the_number_out(
    engine: Engine, code: str, opted_out: bool
) -> None:
    case_id, attempt_id = claimed(engine)
    # The adapter's own classification of Twilio's refusal, as a send would return it.
    refusal = classify_twilio_error(TwilioRestException(400, "/Messages", "refused", int(code)))
    deliver(engine, attempt_id, RecordingChannel(script=[SendResult(failure=refusal)]))
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.recipient.sms_opted_out is opted_out
        assert not case.recipient.email_opted_out


def test_paused_holds_and_cancelled_drops_without_calling_the_provider(engine: Engine) -> None:
    case_id, attempt_id = claimed(engine)
    channel = RecordingChannel()
    with Session(engine) as session:
        campaign = session.scalars(select(Campaign)).one()
        campaign.state = "paused"
        session.commit()
    assert deliver(engine, attempt_id, channel) is SendOutcome.HELD
    assert load(engine, case_id, attempt_id)[1].status == "claimed"
    with Session(engine) as session:
        session.scalars(select(Campaign)).one().state = "cancelled"
        session.commit()
    assert deliver(engine, attempt_id, channel) is SendOutcome.DROPPED
    assert channel.sent == []


def test_an_adapter_bug_leaves_the_attempt_unconfirmed_never_resent(engine: Engine) -> None:
    case_id, attempt_id = claimed(engine)
    channel = RecordingChannel(script=[KeyError("sid")])
    with pytest.raises(KeyError):
        deliver(engine, attempt_id, channel)
    case, attempt = load(engine, case_id, attempt_id)
    assert (attempt.status, case.state) == ("unconfirmed", "awaiting_response")
    assert deliver(engine, attempt_id, channel) is SendOutcome.NOT_OURS
    assert channel.sent == []


def test_racing_workers_send_an_attempt_once(pg_engine: Engine) -> None:
    _, attempt_id = claimed(pg_engine)
    channel = RecordingChannel()
    barrier = threading.Barrier(8)
    outcomes: list[SendOutcome] = []

    def worker() -> None:
        barrier.wait()
        outcomes.append(deliver(pg_engine, attempt_id, channel))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count(SendOutcome.SENT) == 1
    assert len(channel.sent) == 1
