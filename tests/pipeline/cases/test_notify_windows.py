"""case.notify's send window: quiet hours in the recipient's zone (SMS and calls), the
audited security-incident override, and per-recipient daily caps across campaigns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.cases.caps import daily_cap
from pipeline.cases.notify import Outcome, notify_case
from pipeline.cases.policy import Step
from pipeline.models import Attempt, AuditEvent, Campaign
from pipeline.settings import Settings
from tests.pipeline_factories import make_campaign, make_case

SETTINGS = Settings(attempt_lease_seconds=600, sending_stale_seconds=300)
NIGHT = {"start": "21:00", "end": "08:00"}
LATE_IN_SHANGHAI = datetime(2026, 3, 2, 14, tzinfo=UTC)  # 22:00 CST
SHANGHAI_MORNING = datetime(2026, 3, 3, 0, tzinfo=UTC)  # 08:00 CST


def _quiet(campaign: Campaign) -> Campaign:
    campaign.quiet_hours = NIGHT
    return campaign


def _claimed(session: Session, case_id: int) -> list[str]:
    return list(session.scalars(select(Attempt.channel).where(Attempt.case_id == case_id)))


def test_sms_at_night_waits_for_the_recipients_morning(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = _quiet(make_campaign(session))
        case = make_case(session, campaign, due=LATE_IN_SHANGHAI, timezone="Asia/Shanghai")
        deferred = notify_case(session, case.id, LATE_IN_SHANGHAI, SETTINGS)
        assert deferred.outcome is Outcome.DEFERRED
        assert (case.state, case.next_due_at) == ("pending", SHANGHAI_MORNING)
        assert _claimed(session, case.id) == []
        sent = notify_case(session, case.id, SHANGHAI_MORNING, SETTINGS)
        assert (sent.outcome, sent.channel) == (Outcome.SEND, "sms")


def test_email_is_not_held_by_quiet_hours(engine: Engine) -> None:
    with Session(engine) as session:
        ladder = [Step("email", timedelta(minutes=1))]
        campaign = _quiet(make_campaign(session, ladder=ladder))
        case = make_case(session, campaign, due=LATE_IN_SHANGHAI, timezone="Asia/Shanghai")
        result = notify_case(session, case.id, LATE_IN_SHANGHAI, SETTINGS)
        assert (result.outcome, result.channel) == (Outcome.SEND, "email")


def test_security_incident_override_sends_at_night_and_is_audited(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = _quiet(make_campaign(session))
        campaign.reason, campaign.spec = "security_incident", {"override_quiet_hours": True}
        case = make_case(session, campaign, due=LATE_IN_SHANGHAI, timezone="Asia/Shanghai")
        result = notify_case(session, case.id, LATE_IN_SHANGHAI, SETTINGS)
        assert result.outcome is Outcome.SEND
        audited = session.scalars(
            select(AuditEvent.entity).where(AuditEvent.action == "quiet_hours.override")
        ).all()
        assert audited == [f"case:{case.id}"]


def test_a_recipient_at_the_daily_cap_waits_until_the_oldest_text_ages_out(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        other = make_case(session, make_campaign(session))
        texts = [LATE_IN_SHANGHAI - timedelta(hours=h) for h in range(daily_cap("sms"), 0, -1)]
        for step, moment in enumerate(texts):
            session.add(Attempt(case_id=other.id, channel="sms", step=step, claimed_at=moment))
        case = make_case(session, make_campaign(session), due=LATE_IN_SHANGHAI)
        case.recipient_id = other.recipient_id  # the same person in a second recall
        session.flush()
        result = notify_case(session, case.id, LATE_IN_SHANGHAI, SETTINGS)
        assert result.outcome is Outcome.DEFERRED
        assert case.next_due_at == texts[0] + timedelta(hours=24)
