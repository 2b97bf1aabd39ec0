"""The remedy rule: agreed → completed, never agreed → completed and marked, a repeat is a
no-op, a cancelled case is refused; each confirmation audited; the funnel counts it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.cases.events import apply_event
from pipeline.cases.states import CaseEvent
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.errors import InputError
from pipeline.models import AuditEvent, Case, RemedyConfirmation
from pipeline.privacy import audit
from pipeline.remedies.confirm import (
    Confirmation,
    Outcome,
    confirm_all,
    confirm_case,
    item_problems,
)
from pipeline.remedies.funnel import remedy_funnel
from pipeline.reporting.metrics import campaign_status
from tests import inbound_rows as rows


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


def _confirm(session: Session, case: Case, note: str = "") -> Outcome:
    item = Confirmation(case.recipient.external_id, utcnow() - timedelta(hours=1), note)
    return confirm_case(session, case.id, item, source="import", actor="test", now=utcnow())


def _agreed(session: Session) -> Case:
    camp = rows.campaign(session, completion="on_remedy")
    case = rows.case(session, camp, rows.recipient(session))
    apply_event(session, case, CaseEvent.AGREE, now=utcnow(), actor="test", channel="sms")
    assert case.state == "agreed"
    return case


def test_an_agreed_case_completes(session: Session) -> None:
    case = _agreed(session)
    assert _confirm(session, case, "swapped at the counter") is Outcome.COMPLETED
    assert case.state == "completed" and case.closed_at is not None
    row = session.scalars(select(RemedyConfirmation)).one()
    assert (row.case_id, row.without_agreement, row.source) == (case.id, False, "import")
    assert row.note == "swapped at the counter"
    actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["case.remedy_confirmed", "remedy.confirmed"]
    assert audit.verify(session).ok


@pytest.mark.parametrize("state", ["awaiting_response", "refused", "query_open", "unreachable"])
def test_a_case_that_never_agreed_completes_and_is_marked(session: Session, state: str) -> None:
    camp = rows.campaign(session, completion="on_remedy")
    case = rows.case(session, camp, rows.recipient(session), state=state)
    case.next_due_at = utcnow()
    assert _confirm(session, case) is Outcome.COMPLETED_WITHOUT_AGREEMENT
    assert case.state == "completed" and case.next_due_at is None
    assert session.scalars(select(RemedyConfirmation.without_agreement)).one() is True


def test_a_repeated_confirmation_is_a_no_op(session: Session) -> None:
    case = _agreed(session)
    _confirm(session, case)
    audits = session.scalar(select(func.count()).select_from(AuditEvent))
    assert _confirm(session, case, "again") is Outcome.ALREADY_CONFIRMED
    assert session.scalar(select(func.count()).select_from(RemedyConfirmation)) == 1
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == audits
    assert session.scalars(select(RemedyConfirmation.note)).one() == ""


def test_a_case_completed_by_agreeing_is_only_recorded(session: Session) -> None:
    camp = rows.campaign(session)  # on_agree
    case = rows.case(session, camp, rows.recipient(session))
    apply_event(session, case, CaseEvent.AGREE, now=utcnow(), actor="test", channel="sms")
    assert _confirm(session, case) is Outcome.RECORDED
    assert case.state == "completed"
    assert session.scalars(select(RemedyConfirmation.without_agreement)).one() is False


def test_a_cancelled_case_is_refused(session: Session) -> None:
    camp = rows.campaign(session, completion="on_remedy")
    case = rows.case(session, camp, rows.recipient(session), state="cancelled")
    with pytest.raises(InputError):
        _confirm(session, case)
    item = Confirmation(case.recipient.external_id, utcnow(), line=3)
    _, errors = item_problems(session, camp.id, [item], path="r.csv")
    assert [e.describe() for e in errors] == [
        f"r.csv:3: external_id: the case of {case.recipient.external_id!r} is cancelled "
        "(out of the recall's scope)"
    ]


def test_unknown_external_id_is_a_located_error(session: Session) -> None:
    camp = rows.campaign(session, completion="on_remedy")
    other = rows.campaign(session, completion="on_remedy")
    stranger = rows.case(session, other, rows.recipient(session))
    item = Confirmation(stranger.recipient.external_id, utcnow(), line=2)
    cases, errors = item_problems(session, camp.id, [item], path="r.csv")
    assert cases == {} and len(errors) == 1
    assert errors[0].line == 2 and errors[0].field == "external_id"


def test_the_funnel_counts_each_kind(session: Session) -> None:
    camp = rows.campaign(session, completion="on_remedy")
    cases = [rows.case(session, camp, rows.recipient(session)) for _ in range(5)]
    for case in cases[:3]:
        apply_event(session, case, CaseEvent.AGREE, now=utcnow(), actor="t", channel="sms")
    items = [
        Confirmation(c.recipient.external_id, utcnow()) for c in (cases[0], cases[1], cases[4])
    ]
    ids = {c.recipient.external_id: c.id for c in cases}
    report = confirm_all(session, camp.id, items, ids, source="api", actor="t", now=utcnow())
    assert report.outcomes == {
        "completed": 2, "completed_without_agreement": 1, "recorded": 0, "already_confirmed": 0,
    }  # fmt: skip
    status = campaign_status(session, camp.id)
    expected = {
        "agreed": 3, "remedied": 3, "remedied_without_agreement": 1, "awaiting": 1,
        "rate": round(2 / 3, 6),
    }  # fmt: skip
    assert status["remedies"] == expected
    assert remedy_funnel(session, camp.id, status["states"]) == expected
    assert status["states"]["completed"] == 3
