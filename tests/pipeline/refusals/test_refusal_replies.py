"""The reply after a refusal: classified, stored on the case, a demand in the inbox, the
breakdown in the status; a refuser can still agree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.followups.demands import close_demand, open_demands
from pipeline.inbound.answers import process_inbound_event
from pipeline.models import AuditEvent, Case, PendingReply, RefusalDemand, Response
from pipeline.notices.templates import render_followup
from pipeline.privacy import audit
from pipeline.reporting.metrics import campaign_status
from tests import inbound_rows as rows


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


def _reply(session: Session, case: Case, body: str) -> list[FollowUp]:
    return process_inbound_event(session, rows.sms(session, case.recipient.phone or "", body).id)


def _refused(session: Session, locale: str = "en") -> Case:
    camp = rows.campaign(session)
    case = rows.case(session, camp, rows.recipient(session, locale=locale))
    assert _reply(session, case, "NO") == [FollowUp(case.id, "sms", "refusal_followup")]
    return case


def test_the_refusal_followup_asks_why_with_numbered_reasons(session: Session) -> None:
    case = _refused(session)
    text = render_followup("refusal_followup", case)
    assert "tell us why" in text and "1 I am not affected; 2 It is too much trouble" in text
    assert "6 Something else" in text and "reply YES" in text
    chinese = _refused(session, "zh-CN")
    assert "1 我没有受影响；2 太麻烦" in render_followup("refusal_followup", chinese)


def test_a_number_is_stored_as_the_reason_and_acknowledged(session: Session) -> None:
    case = _refused(session)
    assert _reply(session, case, "3") == [FollowUp(case.id, "sms", "refusal_reason_ack")]
    assert (case.state, case.refusal_reason, case.refusal_text) == ("refused", "distrust", "3")
    kinds = [r.kind for r in session.scalars(select(Response).order_by(Response.id))]
    assert kinds == ["refuse", "reason"]
    assert not open_demands(session, utcnow())
    # Only the next reply is the reason: another free text is a question again.
    assert _reply(session, case, "what about my warranty")[0].kind == "query_ack"
    assert case.state == "query_open" and case.refusal_reason == "distrust"


def test_free_text_in_chinese_that_is_a_demand_opens_an_inbox_item(session: Session) -> None:
    case = _refused(session, "zh-CN")
    _reply(session, case, "我要求赔偿，电话 13800138000")
    assert case.refusal_reason == "want_compensation"
    assert case.refusal_text == "我要求赔偿，电话 13800138000"  # kept whole for the agent
    [item] = open_demands(session, utcnow())
    assert (item.case_id, item.reason) == (case.id, "want_compensation")
    assert item.kind == "refusal_demand"
    assert "13800138000" not in item.text  # masked in the list
    assert item.due_at is not None and not item.overdue
    entries = [e for e in session.scalars(select(AuditEvent)) if e.action == "case.refusal_reason"]
    assert entries[0].data["reason"] == "want_compensation" and "赔偿" not in str(entries[0].data)
    close_demand(session, item.id, "user:ann", utcnow())
    assert not open_demands(session, utcnow())
    assert session.scalars(select(RefusalDemand)).one().closed_by == "user:ann"
    assert audit.verify(session).ok


def test_text_naming_no_reason_is_other_and_a_plain_question_stays_a_question(
    session: Session,
) -> None:
    case = _refused(session)
    _reply(session, case, "just do not want to")
    assert (case.refusal_reason, case.refusal_text) == ("other", "just do not want to")
    asker = _refused(session)
    assert _reply(session, asker, "Is it really dangerous?")[0].kind == "query_ack"
    assert asker.refusal_reason is None and asker.state == "query_open"


def test_a_refuser_can_still_agree(session: Session) -> None:
    case = _refused(session)
    assert _reply(session, case, "YES")[0].kind == "confirmation"
    assert case.state == "completed" and case.refusal_reason is None
    again = _refused(session)
    _reply(session, again, "2")
    assert again.refusal_reason == "inconvenient"
    _reply(session, again, "yes")
    assert again.state == "completed" and again.refusal_reason == "inconvenient"


def test_status_counts_reasons_and_refusals_without_one(session: Session) -> None:
    camp = rows.campaign(session)
    answers = {"5": "want_compensation", "我要退款": "want_compensation", "1": "not_affected"}
    for body in [*answers, None, None]:
        case = rows.case(session, camp, rows.recipient(session))
        _reply(session, case, "no")
        if body:
            _reply(session, case, body)
    status = campaign_status(session, camp.id)
    assert status["refusals"] == {
        "not_affected": 1,
        "inconvenient": 0,
        "distrust": 0,
        "want_other_remedy": 0,
        "want_compensation": 2,
        "other": 0,
        "not_given": 2,
    }
    assert status["responses"]["refuse"] == 5


def test_erasure_removes_the_words_of_a_reason_a_demand_and_a_held_answer(
    session: Session,
) -> None:
    from pipeline.privacy.erasure import erase_recipient

    case = _refused(session)
    _reply(session, case, "refund to Zelda Quixote please")
    rows.case(session, rows.campaign(session), case.recipient)  # a second open case
    _reply(session, case, "yes, Zelda Quixote agrees")  # held: which recall?
    erase_recipient(session, case.recipient.external_id, actor="test")
    session.flush()
    assert case.refusal_text is None and case.refusal_reason == "want_compensation"
    assert session.scalars(select(RefusalDemand.text)).one() == ""
    held = session.execute(select(PendingReply.id)).all()
    assert held == []
