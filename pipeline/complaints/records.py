"""Complaints in the database: opening one from a question (by keywords or by an agent),
moving it through its stages (each move audited with who and when, each stage's deadline
kept), reopening it, and the acknowledgement that tells the person when to expect an answer.

The person's question stays a query on the case (an agent answers it as before); the
complaint runs beside it on its own, longer clock. The case's ``query_due_at`` is set to
the complaint's expected answer, which is what the acknowledgement states.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp
from pipeline.complaints import hooks
from pipeline.complaints.classify import AGENT, complaint_type, is_dissatisfied
from pipeline.complaints.stages import (
    CLOSED,
    OUTCOMES,
    REOPENED,
    RESOLVED,
    ROUTED,
    StageError,
    check_move,
    expected_answer,
    stage_due,
)
from pipeline.complaints.working_days import parse_holidays
from pipeline.errors import InputError, InvalidState, NotFound
from pipeline.models import Case, Complaint, ComplaintStep, Response
from pipeline.privacy import audit
from pipeline.settings import get_settings

ACK_KIND = "complaint_ack"
ROUTER = "system:router"


@lru_cache(maxsize=4)
def _holidays(value: str) -> frozenset[date]:
    return parse_holidays(value)


def holidays() -> frozenset[date]:
    """The holiday calendar of ``RECALL_HOLIDAYS`` (parsed once per value)."""
    return _holidays(get_settings().holidays)


def complaint_of(session: Session, case_id: int) -> Complaint | None:
    return session.scalars(select(Complaint).where(Complaint.case_id == case_id)).first()


def load(session: Session, complaint_id: int) -> Complaint:
    complaint = session.get(Complaint, complaint_id)
    if complaint is None:
        raise NotFound(f"no complaint {complaint_id}")
    return complaint


def on_question(
    session: Session,
    case: Case,
    text: str,
    channel: str | None,
    now: datetime,
    follow_ups: list[FollowUp],
) -> list[FollowUp]:
    """A question just arrived on ``case``: open a complaint if its words say so (or reopen
    the case's handled complaint if the person is not satisfied). Returns the follow-ups
    with the plain acknowledgement replaced by the complaint's, which states a date."""
    existing = complaint_of(session, case.id)
    kind = complaint_type(text)
    if existing is not None:
        if (kind or is_dissatisfied(text)) and _reopenable(existing):
            reopen(session, existing, f"customer:{channel or 'unknown'}", now)
        if existing.closed_at is None:
            return _complaint_acks(session, case, existing, follow_ups)
        return follow_ups
    if kind is None:
        return follow_ups
    complaint = open_complaint(
        session, case, type_=kind, source="keywords", channel=channel,
        opened_at=now, now=now, actor=ROUTER,
    )  # fmt: skip
    return _complaint_acks(session, case, complaint, follow_ups)


def _reopenable(complaint: Complaint) -> bool:
    try:
        check_move(complaint.stage, REOPENED)
    except StageError:
        return False
    return True


def _complaint_acks(
    session: Session, case: Case, complaint: Complaint, follow_ups: list[FollowUp]
) -> list[FollowUp]:
    case.query_due_at = expected_answer(complaint.clock_at, holidays())
    return [
        FollowUp(f.case_id, f.channel, ACK_KIND) if f.kind == "query_ack" else f for f in follow_ups
    ]


def open_complaint(
    session: Session,
    case: Case,
    *,
    type_: str,
    source: str,
    channel: str | None,
    opened_at: datetime,
    now: datetime,
    actor: str,
) -> Complaint:
    """Record a complaint on ``case``, routed now (the 1-hour routing clock runs from
    ``opened_at``, when the question came in)."""
    complaint = Complaint(
        case_id=case.id,
        campaign_id=case.campaign_id,
        type=type_,
        source=source,
        channel=channel,
        language=case.recipient.locale or "en",
        opened_at=opened_at,
        routed_at=now,
        clock_at=now,
        stage=ROUTED,
        stage_at=now,
        due_at=stage_due(ROUTED, now, now, holidays()),
        reopened=0,
    )
    session.add(complaint)
    session.flush()
    _add_step(session, complaint, actor, now)
    _audit(session, complaint, actor, "complaint.opened", {"type": type_, "source": source})
    return complaint


def classify_by_agent(session: Session, case_id: int, agent: str, now: datetime) -> Complaint:
    """An agent reads a question as a complaint: it is routed now, and its routing clock
    runs from the question (so a late classification shows as a missed hour)."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    if complaint_of(session, case_id) is not None:
        raise InvalidState(f"case {case_id} already has a complaint")
    question = _latest_question(session, case_id)
    opened_at = question.received_at if question else now
    complaint = open_complaint(
        session, case, type_=AGENT, source="agent", channel=question.channel if question else None,
        opened_at=min(opened_at, now), now=now, actor=agent,
    )  # fmt: skip
    if case.query_due_at is not None:
        case.query_due_at = expected_answer(complaint.clock_at, holidays())
    return complaint


def _latest_question(session: Session, case_id: int) -> Response | None:
    return session.scalars(
        select(Response)
        .where(Response.case_id == case_id, Response.kind == "query")
        .order_by(Response.received_at.desc(), Response.id.desc())
        .limit(1)
    ).first()


def move(
    session: Session,
    complaint_id: int,
    target: str,
    agent: str,
    now: datetime,
    *,
    outcome: str | None = None,
) -> Complaint:
    """An inbox action: move the complaint to its next stage (or reopen it), audited."""
    complaint = load(session, complaint_id)
    try:
        check_move(complaint.stage, target)
    except StageError as error:
        raise InvalidState(str(error)) from error
    if target == REOPENED:
        return reopen(session, complaint, agent, now)
    if target == RESOLVED:
        if outcome not in OUTCOMES:
            raise InputError(f"must be one of {', '.join(OUTCOMES)}", field="outcome")
        complaint.outcome = outcome
    _enter(session, complaint, target, agent, now)
    if target == CLOSED:
        complaint.closed_at = now
        hooks.on_complaint_closed(session, complaint, now)
    return complaint


def reopen(session: Session, complaint: Complaint, actor: str, now: datetime) -> Complaint:
    """The customer is not satisfied: the complaint goes back on the clock from now."""
    complaint.reopened += 1
    complaint.closed_at = None
    complaint.clock_at = now
    _enter(session, complaint, REOPENED, actor, now)
    return complaint


def _enter(session: Session, complaint: Complaint, stage: str, actor: str, now: datetime) -> None:
    _finish_step(session, complaint, now)
    complaint.stage = stage
    complaint.stage_at = now
    complaint.due_at = stage_due(stage, now, complaint.clock_at, holidays())
    _add_step(session, complaint, actor, now)
    _audit(session, complaint, actor, f"complaint.{stage}", {"due_at": _iso(complaint.due_at)})


def _finish_step(session: Session, complaint: Complaint, now: datetime) -> None:
    step = session.scalars(
        select(ComplaintStep)
        .where(ComplaintStep.complaint_id == complaint.id, ComplaintStep.done_at.is_(None))
        .order_by(ComplaintStep.id.desc())
        .limit(1)
    ).first()
    if step is not None:
        step.done_at = now
        step.met = None if step.due_at is None else now <= step.due_at


def _add_step(session: Session, complaint: Complaint, actor: str, now: datetime) -> None:
    session.add(
        ComplaintStep(
            complaint_id=complaint.id,
            stage=complaint.stage,
            actor=actor,
            at=now,
            due_at=complaint.due_at,
            done_at=now if complaint.stage == CLOSED else None,
        )
    )


def steps(session: Session, complaint_id: int) -> list[ComplaintStep]:
    """The complaint's stages, oldest first: who, when, by when, in time or not."""
    return list(
        session.scalars(
            select(ComplaintStep)
            .where(ComplaintStep.complaint_id == complaint_id)
            .order_by(ComplaintStep.at, ComplaintStep.id)
        )
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _audit(
    session: Session, complaint: Complaint, actor: str, action: str, data: dict[str, object]
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        entity=f"case:{complaint.case_id}",
        data={"complaint_id": complaint.id, "stage": complaint.stage, **data},
    )
