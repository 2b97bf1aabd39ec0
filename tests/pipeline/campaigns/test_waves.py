"""Follow-up waves: below target at the check time, non-responders get one more round, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.campaigns import waves
from pipeline.cases.policy import ladder_for
from pipeline.clock import utcnow
from pipeline.models import AuditEvent, Campaign
from tests import sched_data as data

CHECK_AT = datetime(2026, 6, 10, 9, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _campaign(session: Session, target: float) -> Campaign:
    spec = {"follow_up": {"target": target, "check_at": CHECK_AT.isoformat()}}
    return data.campaign(session, spec=spec)


def test_wave_gives_non_responders_one_more_round(session: Session) -> None:
    campaign = _campaign(session, target=0.5)
    done = data.case(session, campaign, state="completed", last_response="agree")
    waiting = data.case(session, campaign, state="awaiting_response", step=1)
    exhausted = data.case(session, campaign, state="unreachable", step=2)
    refused = data.case(session, campaign, state="refused", last_response="refuse")
    opted_out = data.case(session, campaign, state="opted_out", last_response="opt_out")
    session.commit()
    first_round = len(ladder_for(campaign.policy, 2))

    with time_machine.travel(CHECK_AT - timedelta(minutes=1), tick=False):
        assert waves.run_follow_up_waves(session, utcnow()) == 0
    with time_machine.travel(CHECK_AT, tick=False):
        assert waves.run_follow_up_waves(session, utcnow()) == 2
        session.commit()

    for case in (waiting, exhausted):
        assert case.state == "awaiting_response"
        assert case.step == first_round  # the first step of round two
        assert case.next_due_at == CHECK_AT
    assert len(ladder_for(campaign.policy, 2)) == 2 * first_round
    assert ladder_for(campaign.policy, 2)[first_round] == ladder_for(campaign.policy, 2)[0]
    assert (done.state, refused.state, opted_out.state) == ("completed", "refused", "opted_out")
    assert refused.next_due_at is None
    assert campaign.follow_up_checked_at == CHECK_AT
    assert "campaign.follow_up_checked" in session.scalars(select(AuditEvent.action)).all()

    with time_machine.travel(CHECK_AT + timedelta(days=1), tick=False):
        assert waves.run_follow_up_waves(session, utcnow()) == 0  # once


def test_no_wave_when_target_reached(session: Session) -> None:
    campaign = _campaign(session, target=0.5)
    data.case(session, campaign, state="completed", last_response="agree")
    waiting = data.case(session, campaign, state="awaiting_response", step=1)
    session.commit()
    assert waves.run_follow_up_waves(session, CHECK_AT) == 0
    assert (waiting.step, campaign.follow_up_checked_at) == (1, CHECK_AT)


def test_campaign_without_follow_up_is_never_checked(session: Session) -> None:
    campaign = data.campaign(session)
    data.case(session, campaign, state="awaiting_response")
    session.commit()
    assert waves.run_follow_up_waves(session, CHECK_AT) == 0
    assert campaign.follow_up_checked_at is None
