"""Every complaint stage and its deadline, across a weekend and a holiday, and reopening."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp
from pipeline.complaints import records
from pipeline.complaints.stages import (
    AWAITING_APPROVAL,
    CLOSED,
    FOLLOWED_UP,
    INVESTIGATING,
    REOPENED,
    RESOLVED,
    ROUTED,
    SUMMARISED,
    StageError,
    check_move,
    stage_due,
)
from pipeline.complaints.stats import complaint_stats
from pipeline.db import session_factory
from pipeline.errors import InputError, InvalidState
from pipeline.models import AuditEvent, Case, Complaint
from pipeline.notices.templates import render_followup
from pipeline.settings import get_settings
from tests.pipeline_factories import make_campaign, make_case

HOLIDAY = "2026-03-09"  # the Monday after the complaint's Thursday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def holidays(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RECALL_HOLIDAYS", HOLIDAY)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def session(engine: Engine, holidays: None) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


def _question(session: Session, case: Case, text: str, now: datetime) -> list[FollowUp]:
    acks = [FollowUp(case.id, "sms", "query_ack"), FollowUp(case.id, "sms", "help")]
    return records.on_question(session, case, text, "sms", now, acks)


def test_pure_stage_deadlines_skip_the_weekend_and_the_holiday() -> None:
    days = frozenset({date(2026, 3, 9)})
    thursday = at(5, 10)
    assert stage_due(ROUTED, thursday, thursday, days) == at(10, 10)  # Fri, (Mon off) Tue
    assert stage_due(INVESTIGATING, at(6, 9), thursday, days) == at(11, 10)
    assert stage_due(AWAITING_APPROVAL, at(6, 16), thursday, days) == at(10, 16)
    assert stage_due(RESOLVED, at(13, 10), thursday, days) == at(16, 10)
    assert stage_due(FOLLOWED_UP, at(13, 9), thursday, days) == at(17, 9)
    assert stage_due(SUMMARISED, at(16, 9), thursday, days) is None
    assert stage_due(CLOSED, at(16, 9), thursday, days) is None


def test_only_the_next_stage_or_a_reopening_is_allowed() -> None:
    check_move(ROUTED, INVESTIGATING)
    check_move(CLOSED, REOPENED)
    with pytest.raises(StageError, match="moves to investigating, not resolved"):
        check_move(ROUTED, RESOLVED)
    with pytest.raises(StageError, match="cannot be reopened"):
        check_move(INVESTIGATING, REOPENED)


def test_a_complaint_runs_every_stage_on_the_working_day_clock(session: Session) -> None:
    case = make_case(session, make_campaign(session), timezone="Asia/Shanghai", locale="zh-CN")
    follow_ups = _question(session, case, "我要投诉，这太差了", at(5, 10))
    complaint = records.complaint_of(session, case.id)
    assert complaint is not None
    assert (complaint.type, complaint.source, complaint.stage) == ("general", "keywords", ROUTED)
    assert complaint.due_at == at(10, 10)
    # The acknowledgement states the expected answer: investigated (Wed 11) + approved (Thu 12).
    assert [f.kind for f in follow_ups] == ["complaint_ack", "help"]
    assert case.query_due_at == at(12, 10)
    assert "2026年3月12日 18:00" in render_followup("complaint_ack", case)

    plan = [
        (INVESTIGATING, at(6, 9), at(11, 10)),  # 3 working days from routing
        (AWAITING_APPROVAL, at(11, 11), at(12, 11)),  # an hour late for the investigation
        (RESOLVED, at(12, 10), at(13, 10)),
        (FOLLOWED_UP, at(13, 9), at(17, 9)),  # Fri + 2 working days: Mon, Tue
        (SUMMARISED, at(16, 12), None),
        (CLOSED, at(16, 13), None),
    ]
    for stage, now, due in plan:
        records.move(session, complaint.id, stage, "user:ann", now, outcome="upheld")
        assert (complaint.stage, complaint.stage_at, complaint.due_at) == (stage, now, due)
    assert complaint.closed_at == at(16, 13)
    assert complaint.outcome == "upheld"

    done = records.steps(session, complaint.id)
    assert [s.stage for s in done] == [ROUTED, *(stage for stage, _, _ in plan)]
    assert [s.met for s in done] == [True, False, True, True, True, None, None]
    assert {s.actor for s in done} == {"system:router", "user:ann"}
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert [a for a in actions if a.startswith("complaint.")] == [
        "complaint.opened",
        *(f"complaint.{stage}" for stage, _, _ in plan),
    ]

    stats = complaint_stats(session, at(16, 14))
    assert stats["deadlines"]["investigation"] == {"due": 1, "met": 0, "share": 0.0}
    assert stats["deadlines"]["summary"] == {"due": 1, "met": 1, "share": 1.0}
    assert stats["deadlines"]["routing"] == {"due": 1, "met": 1, "share": 1.0}
    assert (stats["closed"], stats["by_outcome"]["upheld"], stats["by_week"]) == (
        1, 1, {"2026-W10": 1}
    )  # fmt: skip


def test_not_satisfied_reopens_a_closed_complaint(session: Session) -> None:
    case = make_case(session, make_campaign(session))
    _question(session, case, "I want to complain", at(5, 10))
    complaint = records.complaint_of(session, case.id)
    assert complaint is not None
    for stage in (INVESTIGATING, AWAITING_APPROVAL, RESOLVED, FOLLOWED_UP, SUMMARISED, CLOSED):
        records.move(session, complaint.id, stage, "user:ann", at(6, 9), outcome="not_upheld")
    follow_ups = _question(session, case, "I am not satisfied with this", at(17, 8))
    assert (complaint.stage, complaint.reopened, complaint.closed_at) == (REOPENED, 1, None)
    assert complaint.due_at == at(19, 8)  # team formed within 2 working days, again
    assert case.query_due_at == at(23, 8)  # Wed 18, Thu 19, Fri 20 + approval Mon 23
    assert follow_ups[0].kind == "complaint_ack"
    records.move(session, complaint.id, INVESTIGATING, "user:bob", at(17, 9))
    assert complaint.due_at == at(20, 8)
    assert session.scalar(select(Complaint.id).where(Complaint.case_id == case.id)) == complaint.id


def test_a_plain_question_opens_nothing_and_an_agent_can_classify_it(session: Session) -> None:
    case = make_case(session, make_campaign(session))
    follow_ups = _question(session, case, "When can I bring it in?", at(5, 10))
    assert [f.kind for f in follow_ups] == ["query_ack", "help"]
    assert records.complaint_of(session, case.id) is None
    complaint = records.classify_by_agent(session, case.id, "user:ann", at(5, 12))
    assert (complaint.type, complaint.source, complaint.stage) == ("agent", "agent", ROUTED)
    with pytest.raises(InvalidState, match="already has a complaint"):
        records.classify_by_agent(session, case.id, "user:ann", at(5, 12))


def test_bad_moves_are_refused_with_the_reason(session: Session) -> None:
    case = make_case(session, make_campaign(session))
    _question(session, case, "I will sue", at(5, 10))
    complaint = records.complaint_of(session, case.id)
    assert complaint is not None
    with pytest.raises(InvalidState, match="moves to investigating"):
        records.move(session, complaint.id, CLOSED, "user:ann", at(5, 11))
    records.move(session, complaint.id, INVESTIGATING, "user:ann", at(5, 11))
    records.move(session, complaint.id, AWAITING_APPROVAL, "user:ann", at(5, 12))
    with pytest.raises(InputError, match="outcome: must be one of"):
        records.move(session, complaint.id, RESOLVED, "user:ann", at(5, 13), outcome="maybe")
    assert complaint.stage == AWAITING_APPROVAL
