"""The satisfaction question: asked once per case, a 1-5 reply is a score only while the
question is pending (a ``2`` never refuses a completed case that was asked), the figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.inbound.replies import parse_score
from pipeline.models import Case, FollowUpSend, InboundEvent, Response, SatisfactionAnswer
from pipeline.privacy import audit
from pipeline.satisfaction.ask import ask_satisfaction, stage_due_questions
from pipeline.satisfaction.summary import satisfaction_summary
from tests import inbound_rows as rows


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


@pytest.mark.parametrize(
    ("text", "score"),
    [("4", 4), (" 5 ", 5), ("５", 5), ("4/5", 4), ("3 stars", 3), ("4分", 4), ("1.", 1),
     ("0", None), ("6", None), ("45", None), ("yes", None), ("4 but slow", None), ("", None)],
)  # fmt: skip
def test_parse_score(text: str, score: int | None) -> None:
    assert parse_score(text) == score


@given(st.text())
def test_parse_score_never_raises(text: str) -> None:
    assert parse_score(text) in (None, 1, 2, 3, 4, 5)


def _completed(session: Session, *, satisfaction: bool = True, phone: str | None = None) -> Case:
    camp = rows.campaign(session, satisfaction=satisfaction)
    case = rows.case(session, camp, rows.recipient(session, phone=phone), state="completed")
    case.answered_channel, case.closed_at = "sms", utcnow() - timedelta(minutes=5)
    return case


def test_asked_once_per_case(session: Session) -> None:
    case = _completed(session)
    first = ask_satisfaction(session, case, utcnow())
    assert first is not None and (first.channel, first.kind) == ("sms", "satisfaction_question")
    assert ask_satisfaction(session, case, utcnow()) is None
    assert ask_satisfaction(session, case, utcnow(), subject="complaint") is None
    assert session.scalar(select(func.count()).select_from(FollowUpSend)) == 1
    assert ask_satisfaction(session, _completed(session, satisfaction=False), utcnow()) is None


def test_the_due_scan_waits_for_the_delay(session: Session) -> None:
    case = _completed(session)
    assert stage_due_questions(session, utcnow(), 10, delay=timedelta(hours=1)) == []
    [staged] = stage_due_questions(session, utcnow(), 10, delay=timedelta(minutes=1))
    assert staged.case_id == case.id
    assert stage_due_questions(session, utcnow(), 10, delay=timedelta(0)) == []


def _reply(session: Session, phone: str, body: str) -> InboundEvent:
    event = rows.sms(session, phone, body)
    process_inbound_event(session, event.id)
    return event


def test_a_digit_is_a_score_only_while_the_question_is_pending(session: Session) -> None:
    case = _completed(session)
    phone = case.recipient.phone or ""
    first = _reply(session, phone, "2")  # not asked yet: "2" means no, as always
    assert case.state == "refused" and first.outcome == "case:refuse->refused"
    case.state = "completed"
    ask_satisfaction(session, case, utcnow())
    scored = _reply(session, phone, "2")
    assert scored.outcome == "satisfaction:2" and case.state == "completed"
    answer = session.scalars(select(SatisfactionAnswer)).one()
    assert (answer.score, answer.answered_via) == (2, "sms")
    assert session.scalar(select(func.count()).select_from(Response)) == 1  # the first only
    again = _reply(session, phone, "5")  # answered already: not a score any more
    assert again.outcome != "satisfaction:5" and answer.score == 2
    assert audit.verify(session).ok


def test_an_open_case_on_the_same_phone_keeps_its_yes(session: Session) -> None:
    asked = _completed(session, phone="+14155550199")
    ask_satisfaction(session, asked, utcnow())
    other = rows.campaign(session)
    open_case = rows.case(session, other, asked.recipient, state="awaiting_response")
    event = _reply(session, "+14155550199", "1")
    assert event.outcome == "case:agree->completed" and open_case.state == "completed"
    assert session.scalars(select(SatisfactionAnswer.score)).one() is None
    # That case closed, the next digit answers the question still pending.
    assert _reply(session, "+14155550199", "4").outcome == "satisfaction:4"


def test_a_question_asked_after_the_open_cases_notice_takes_the_digit(session: Session) -> None:
    # One phone, two recalls: the other one's notice came first, then this case completed
    # and was asked; the "2" answers the question, it does not refuse the other recall.
    other = rows.campaign(session)
    asked = _completed(session, phone="+14155550198")
    open_case = rows.case(
        session, other, asked.recipient, state="awaiting_response",
        notified_at=utcnow() - timedelta(minutes=10),
    )  # fmt: skip
    ask_satisfaction(session, asked, utcnow())
    event = _reply(session, "+14155550198", "2")
    assert event.outcome == "satisfaction:2" and open_case.state == "awaiting_response"
    # Answered, the next digit is the open recall's again.
    assert _reply(session, "+14155550198", "1").outcome == "case:agree->completed"


def test_the_summary(session: Session) -> None:
    cases = [_completed(session)]
    camp = cases[0].campaign
    for _ in range(4):
        case = rows.case(session, camp, rows.recipient(session), state="completed")
        case.answered_channel = "sms"
        cases.append(case)
    for case in cases:
        ask_satisfaction(session, case, utcnow())
    for case, body in zip(cases, ["5", "4", "4", "1"], strict=False):
        _reply(session, case.recipient.phone or "", body)
    summary = satisfaction_summary(session, camp.id)
    assert summary == {
        "answers": 4, "mean": 3.5, "distribution": {"1": 1, "2": 0, "3": 0, "4": 2, "5": 1},
        "rate": 0.8, "asked": 5,
    }  # fmt: skip
