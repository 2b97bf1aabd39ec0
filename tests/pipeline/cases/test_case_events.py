"""apply_event: each event's database effects, follow-ups and audit record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp, apply_event, query_sla
from pipeline.cases.policy import ladder_for
from pipeline.cases.states import CaseEvent as E
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.models import AuditEvent, Case
from pipeline.privacy import audit
from tests import inbound_rows as rows


@pytest.fixture
def session(engine: Engine) -> Session:
    with session_scope(engine) as session:
        yield session


def _case(session: Session, *, completion: str = "on_agree", tier: int = 2, **kw: object) -> Case:
    camp = rows.campaign(session, completion=completion, query_sla="2h")
    return rows.case(session, camp, rows.recipient(session, risk_tier=tier), **kw)


def _audits(session: Session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_agree_completes_and_confirms(session: Session) -> None:
    case = _case(session)
    now = utcnow()
    follow = apply_event(session, case, E.AGREE, now=now, actor="test", channel="sms")
    assert case.state == "completed" and case.next_due_at is None and case.closed_at == now
    assert (case.last_response, case.answered_channel, case.answered_step) == ("agree", "sms", 0)
    assert case.last_response_at == now
    assert follow == [FollowUp(case.id, "sms", "confirmation")]
    [entry] = _audits(session)
    assert entry.action == "case.agree" and entry.entity == f"case:{case.id}"
    assert entry.data["from"] == "awaiting_response" and entry.data["to"] == "completed"
    assert audit.verify(session).ok


def test_agree_waits_for_remedy_when_campaign_says_so(session: Session) -> None:
    case = _case(session, completion="on_remedy")
    apply_event(session, case, E.AGREE, now=utcnow(), actor="test", channel="email")
    assert case.state == "agreed" and case.closed_at is None
    apply_event(session, case, E.REMEDY_CONFIRMED, now=utcnow(), actor="ops")
    assert case.state == "completed" and case.closed_at is not None


def test_refuse_asks_why_and_stays_open(session: Session) -> None:
    case = _case(session)
    follow = apply_event(session, case, E.REFUSE, now=utcnow(), actor="test", channel="sms")
    assert case.state == "refused" and case.closed_at is None and case.next_due_at is None
    assert follow == [FollowUp(case.id, "sms", "refusal_followup")]
    apply_event(session, case, E.AGREE, now=utcnow(), actor="test", channel="sms")
    assert case.state == "completed" and case.last_response == "agree"


def test_query_opens_the_sla_clock(session: Session) -> None:
    case = _case(session)
    now = utcnow()
    follow = apply_event(session, case, E.QUERY, now=now, actor="test", channel="sms")
    assert case.state == "query_open" and case.query_due_at == now + timedelta(hours=2)
    assert follow == [FollowUp(case.id, "sms", "query_ack")]
    apply_event(session, case, E.QUERY_ANSWERED, now=now, actor="agent:amy")
    assert case.state == "awaiting_response" and case.query_due_at is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"query_sla": "2h"}, timedelta(hours=2)),
        ({"query_sla": "30m"}, timedelta(minutes=30)),
        ({"query_sla": "1h30m"}, timedelta(minutes=90)),
        ({"query_sla": "soon"}, timedelta(hours=24)),
        ({"query_sla": 90}, timedelta(seconds=90)),
        ({}, timedelta(hours=24)),
    ],
)
def test_query_sla_forms(spec: dict[str, object], expected: timedelta) -> None:
    assert query_sla(spec) == expected


def test_send_failed_moves_to_the_next_step(session: Session) -> None:
    case = _case(session)
    now = utcnow()
    assert apply_event(session, case, E.SEND_FAILED, now=now, actor="test", channel="sms") == []
    assert case.state == "awaiting_response" and case.step == 1 and case.next_due_at == now
    assert _audits(session)[-1].data["next_step"] == 1


def test_last_step_failing_makes_the_case_unreachable(session: Session) -> None:
    case = _case(session, step=1)  # the default ladder has two steps
    now = utcnow()
    apply_event(session, case, E.WAIT_ELAPSED, now=now, actor="scheduler")
    assert case.state == "unreachable" and case.step == 1 and case.next_due_at is None
    assert case.closed_at == now
    assert _audits(session)[-1].data["effects"] == ["schedule_next_step", "stop_ladder"]
    # A late answer still counts, and reopens the case.
    apply_event(session, case, E.AGREE, now=now, actor="test", channel="sms")
    assert case.state == "completed"


def test_high_risk_tier_has_a_longer_ladder(session: Session) -> None:
    case = _case(session, tier=1, step=1)
    apply_event(session, case, E.WAIT_ELAPSED, now=utcnow(), actor="scheduler")
    assert case.state == "awaiting_response" and case.step == 2


def test_opt_out_suppresses_the_channel_and_confirms_once(session: Session) -> None:
    case = _case(session)
    follow = apply_event(session, case, E.OPT_OUT, now=utcnow(), actor="test", channel="sms")
    assert case.state == "opted_out" and case.recipient.sms_opted_out
    assert not case.recipient.email_opted_out
    assert follow == [FollowUp(case.id, "sms", "opt_out_confirmation")]
    # Nothing else goes to a suppressed channel.
    assert apply_event(session, case, E.HELP, now=utcnow(), actor="test", channel="sms") == []


def test_opt_in_resubscribes_and_puts_the_case_back_on_its_ladder(session: Session) -> None:
    case = _case(session)
    apply_event(session, case, E.OPT_OUT, now=utcnow(), actor="test", channel="sms")
    assert case.next_due_at is None  # opting out stopped the ladder
    now = utcnow()
    follow = apply_event(session, case, E.OPT_IN, now=now, actor="test", channel="sms")
    assert case.state == "awaiting_response" and not case.recipient.sms_opted_out
    assert case.closed_at is None
    assert follow == [FollowUp(case.id, "sms", "opt_in_confirmation")]
    ladder = ladder_for(case.campaign.policy or {}, case.recipient.risk_tier)
    assert case.next_due_at == now + ladder[case.step].wait  # escalates if still silent


def test_help_keeps_the_state(session: Session) -> None:
    case = _case(session)
    follow = apply_event(session, case, E.HELP, now=utcnow(), actor="test", channel="email")
    assert case.state == "awaiting_response" and case.last_response is None
    assert follow == [FollowUp(case.id, "email", "help")]


def test_keypress_answer_is_confirmed_by_sms(session: Session) -> None:
    case = _case(session)
    follow = apply_event(session, case, E.AGREE, now=utcnow(), actor="test", channel="voice")
    assert case.answered_channel == "voice"
    assert follow == [FollowUp(case.id, "sms", "confirmation")]


def test_an_event_that_does_not_apply_is_recorded(session: Session) -> None:
    case = _case(session, state="cancelled")
    follow = apply_event(
        session, case, E.AGREE, now=utcnow(), actor="test", channel="sms", detail={"n": 1}
    )
    assert follow == [] and case.state == "cancelled" and case.last_response is None
    [entry] = _audits(session)
    assert entry.action == "case.ignored" and entry.data["applied"] is False
    assert entry.data["event"] == "agree" and entry.data["detail"] == {"n": 1}
