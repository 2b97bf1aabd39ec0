"""pipeline.cases.notify: choosing the step's channel, claiming it once, escalating after waits."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.cases.notify import (
    Outcome,
    choose_step_channel,
    complete_attempt,
    notify_case,
)
from pipeline.models import Attempt, Case, Recipient
from pipeline.settings import Settings, get_settings
from tests.pipeline_factories import LADDER, NOW, make_campaign, make_case

SETTINGS = Settings(attempt_lease_seconds=600, sending_stale_seconds=300)


def attempts(session: Session, case: Case) -> list[tuple[str, int, str]]:
    rows = session.scalars(select(Attempt).where(Attempt.case_id == case.id).order_by(Attempt.id))
    return [(a.channel, a.step, a.status) for a in rows]


def test_choose_skips_channels_the_recipient_cannot_be_reached_on() -> None:
    opted_out = Recipient(phone="+15551230000", email="a@example.com", sms_opted_out=True)
    assert choose_step_channel(opted_out, LADDER, 0).channel == "email"
    assert [s.reason for s in choose_step_channel(opted_out, LADDER, 0).skipped] == ["opted_out"]
    no_email = Recipient(phone="+15551230000", email=None)
    choice = choose_step_channel(no_email, LADDER, 1)
    assert (choice.step, choice.channel, choice.skipped[0].reason) == (2, "voice", "no_email")
    nobody = Recipient(phone=None, email=None)
    assert choose_step_channel(nobody, LADDER, 0).channel is None


def test_pending_case_claims_one_attempt_and_takes_a_lease(engine: Engine) -> None:
    with Session(engine) as session:
        case = make_case(session, make_campaign(session))
        result = notify_case(session, case.id, NOW, SETTINGS)
        assert (result.outcome, result.channel) == (Outcome.SEND, "sms")
        assert case.state == "notifying"
        assert case.next_due_at == NOW + timedelta(seconds=600)
        # A redelivered message finds nothing due and claims nothing.
        again = notify_case(session, case.id, NOW + timedelta(seconds=5), SETTINGS)
        assert (again.outcome, again.reason) == (Outcome.SKIP, "not_due")
        assert attempts(session, case) == [("sms", 0, "claimed")]
        # After the lease the same attempt is handed out again (its message may be lost).
        later = notify_case(session, case.id, NOW + timedelta(seconds=601), SETTINGS)
        assert (later.outcome, later.attempt_id) == (Outcome.SEND, result.attempt_id)
        assert attempts(session, case) == [("sms", 0, "claimed")]


def test_sent_step_escalates_after_its_wait_and_ends_unreachable(engine: Engine) -> None:
    with Session(engine) as session:
        case = make_case(session, make_campaign(session))
        moment = NOW
        for step, channel in enumerate(["sms", "email", "voice"]):
            result = notify_case(session, case.id, moment, SETTINGS)
            assert (result.outcome, result.channel, case.step) == (Outcome.SEND, channel, step)
            attempt = session.get(Attempt, result.attempt_id)
            assert attempt is not None
            complete_attempt(session, case, attempt, provider_id="X", cost_units=1, now=moment)
            assert case.state == "awaiting_response"
            assert case.next_due_at == moment + timedelta(minutes=1)
            assert notify_case(session, case.id, moment, SETTINGS).reason == "not_due"
            moment += timedelta(minutes=1)
        final = notify_case(session, case.id, moment, SETTINGS)
        assert (final.outcome, case.state, case.next_due_at) == (
            Outcome.CLOSED,
            "unreachable",
            None,
        )
        assert [a[2] for a in attempts(session, case)] == ["sent", "sent", "sent"]


def test_opted_out_and_missing_contacts_move_to_the_next_step(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = make_campaign(session)
        opted = make_case(session, campaign, 1, sms_opted_out=True)
        unreachable = make_case(session, campaign, 2, phone=None, email=None)
        result = notify_case(session, opted.id, NOW, SETTINGS)
        assert (result.channel, opted.step) == ("email", 1)
        gone = notify_case(session, unreachable.id, NOW, SETTINGS)
        assert (gone.outcome, unreachable.state) == (Outcome.CLOSED, "unreachable")
        assert attempts(session, unreachable) == []


def test_nothing_happens_while_the_campaign_is_not_running(engine: Engine) -> None:
    with Session(engine) as session:
        case = make_case(session, make_campaign(session, state="paused"))
        result = notify_case(session, case.id, NOW, SETTINGS)
        assert (result.outcome, result.reason) == (Outcome.SKIP, "campaign_paused")
        assert session.scalar(select(func.count(Attempt.id))) == 0
        assert case.state == "pending"


def test_stale_sending_attempt_is_never_sent_again(engine: Engine) -> None:
    """The documented rule: a worker died mid-call → unconfirmed, proceed as if sent."""
    with Session(engine) as session:
        case = make_case(session, make_campaign(session))
        result = notify_case(session, case.id, NOW, SETTINGS)
        attempt = session.get(Attempt, result.attempt_id)
        assert attempt is not None
        attempt.status, attempt.sending_at = "sending", NOW
        case.next_due_at = NOW  # the lease is looked at early
        fresh = notify_case(session, case.id, NOW + timedelta(seconds=60), SETTINGS)
        assert (fresh.outcome, fresh.reason) == (Outcome.SKIP, "in_flight")
        assert case.next_due_at == NOW + timedelta(seconds=300)
        stale = notify_case(session, case.id, NOW + timedelta(seconds=301), SETTINGS)
        assert stale.reason == "unconfirmed"
        assert attempts(session, case) == [("sms", 0, "unconfirmed")]
        assert case.state == "awaiting_response"
        assert case.next_due_at == NOW + timedelta(minutes=1)


def test_quiet_hours_defer_calls_and_texts_but_not_email(engine: Engine) -> None:
    night = {"start": "21:00", "end": "08:00"}
    with Session(engine) as session:
        campaign = make_campaign(session, quiet_hours=night)
        # 12:00 UTC is 21:00 in Tokyo: quiet until 08:00 there, 23:00 UTC.
        case = make_case(session, campaign, 1, timezone="Asia/Tokyo")
        result = notify_case(session, case.id, NOW, SETTINGS)
        assert (result.outcome, result.channel) == (Outcome.DEFERRED, "sms")
        assert case.next_due_at == NOW.replace(hour=23)
        assert (case.state, attempts(session, case)) == ("pending", [])
        later = notify_case(session, case.id, NOW.replace(hour=23), SETTINGS)
        assert (later.outcome, later.channel) == (Outcome.SEND, "sms")
        email_first = make_campaign(session, quiet_hours=night, ladder=[LADDER[1]])
        mailed = make_case(session, email_first, 2, timezone="Asia/Tokyo")
        assert notify_case(session, mailed.id, NOW, SETTINGS).outcome is Outcome.SEND


def test_a_recipient_at_the_daily_cap_waits(engine: Engine) -> None:
    with Session(engine) as session:
        first = make_campaign(session)
        case = make_case(session, first)
        for n in range(get_settings().max_sms_per_day):
            other = make_campaign(session)
            session.add(Case(campaign_id=other.id, recipient_id=case.recipient_id, state="pending"))
            session.flush()
            earlier = session.scalars(select(Case).where(Case.campaign_id == other.id)).one()
            session.add(
                Attempt(
                    case_id=earlier.id,
                    channel="sms",
                    step=0,
                    status="sent",
                    claimed_at=NOW - timedelta(hours=n + 1),
                )
            )
        session.flush()
        result = notify_case(session, case.id, NOW, SETTINGS)
        assert result.outcome is Outcome.DEFERRED
        # The oldest of the day's texts leaves the 24-hour window.
        assert case.next_due_at == NOW - timedelta(
            hours=get_settings().max_sms_per_day
        ) + timedelta(days=1)
