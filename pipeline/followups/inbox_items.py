"""The inbox a team works from: questions, complaints and refusal demands, pageable and
filterable, each with its own deadline and its owner.

An item is a case that waits for an agent: an open query, an open complaint (a complaint
stays in the inbox through its stages, after its question was answered), or an open
refusal demand (``pipeline.followups.demands``: a refusal that asks for compensation or
another remedy). Its deadline is the complaint stage's when there is a complaint, else the
demand's, else the query's own clock (each campaign has its own ``query_sla``). Most
urgent first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from pipeline.cases.states import CaseState
from pipeline.clock import as_utc
from pipeline.complaints.stages import CLOSED, STAGES
from pipeline.errors import InputError
from pipeline.followups.inbox import Contact, contact_of
from pipeline.models import Campaign, Case, Complaint, InboxClaim, Recipient, RefusalDemand

QUESTION = "question"
COMPLAINT = "complaint"
REFUSAL_DEMAND = "refusal_demand"
KINDS = (QUESTION, COMPLAINT, REFUSAL_DEMAND)
QUESTION_STAGE = "open"
PER_PAGE = 50
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class InboxFilter:
    """What an agent narrows the inbox to; every field optional."""

    campaign_id: int | None = None
    kind: str | None = None
    stage: str | None = None
    overdue: bool | None = None
    language: str | None = None
    channel: str | None = None
    owner: str | None = None  # an agent's name, or "nobody"

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise InputError(f"must be one of {', '.join(KINDS)}", field="kind")
        stages = (*STAGES, QUESTION_STAGE)
        if self.stage is not None and self.stage not in stages:
            raise InputError(f"must be one of {', '.join(stages)}", field="stage")


@dataclass(frozen=True)
class InboxItem:
    case_id: int
    campaign_id: int
    campaign_name: str
    kind: str
    stage: str
    complaint_id: int | None
    complaint_type: str | None
    contact: Contact
    language: str
    channel: str | None
    waiting_since: datetime | None
    due_at: datetime | None
    overdue: bool
    owner: str | None


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxItem]
    total: int
    page: int
    per_page: int
    filters: InboxFilter = field(default_factory=InboxFilter)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _open_complaint() -> Any:
    return and_(Complaint.case_id == Case.id, Complaint.stage != CLOSED)


def _open_demands() -> Any:
    """One row per case with an open refusal demand: the earliest deadline among them."""
    return (
        select(
            RefusalDemand.case_id.label("case_id"),
            func.min(RefusalDemand.due_at).label("due_at"),
        )
        .where(RefusalDemand.closed_at.is_(None))
        .group_by(RefusalDemand.case_id)
        .subquery()
    )


def _base(now: datetime) -> tuple[Any, dict[str, Any]]:
    demand = _open_demands()
    due = func.coalesce(Complaint.due_at, demand.c.due_at, Case.query_due_at)
    channel = func.coalesce(Complaint.channel, Case.answered_channel)
    columns = {"due": due, "channel": channel, "demand": demand.c.case_id}
    query = (
        select(Case, Complaint, InboxClaim.agent, due.label("due"), demand.c.case_id)
        .join(Recipient, Recipient.id == Case.recipient_id)
        .outerjoin(Complaint, _open_complaint())
        .outerjoin(demand, demand.c.case_id == Case.id)
        .outerjoin(InboxClaim, InboxClaim.case_id == Case.id)
        .where(
            or_(
                Case.state == CaseState.QUERY_OPEN.value,
                Complaint.id.is_not(None),
                demand.c.case_id.is_not(None),
            )
        )
    )
    return query, columns


def _filtered(query: Any, f: InboxFilter, now: datetime, cols: dict[str, Any]) -> Any:
    if f.campaign_id is not None:
        query = query.where(Case.campaign_id == f.campaign_id)
    if f.kind == COMPLAINT:
        query = query.where(Complaint.id.is_not(None))
    elif f.kind == QUESTION:
        query = query.where(Complaint.id.is_(None), cols["demand"].is_(None))
    elif f.kind == REFUSAL_DEMAND:
        query = query.where(Complaint.id.is_(None), cols["demand"].is_not(None))
    if f.stage == QUESTION_STAGE:
        query = query.where(Complaint.id.is_(None))
    elif f.stage is not None:
        query = query.where(Complaint.stage == f.stage)
    if f.overdue is not None:
        late = and_(cols["due"].is_not(None), cols["due"] < now)
        query = query.where(late if f.overdue else ~late)
    if f.language:
        query = query.where(Recipient.locale == f.language)
    if f.channel:
        query = query.where(cols["channel"] == f.channel)
    if f.owner == "nobody":
        query = query.where(InboxClaim.agent.is_(None))
    elif f.owner:
        query = query.where(InboxClaim.agent == f.owner)
    return query


def inbox_page(
    session: Session,
    now: datetime,
    filters: InboxFilter | None = None,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> InboxPage:
    """One page of the inbox under ``filters``, the nearest deadline first."""
    filters = filters or InboxFilter()
    if page < 1:
        raise InputError("must be 1 or more", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InputError(f"must be 1 to {MAX_PER_PAGE}", field="per_page")
    base, cols = _base(now)
    query = _filtered(base, filters, now, cols)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(cols["due"].asc().nulls_last(), Case.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    items = [
        _item(case, complaint, owner, due, demand is not None, now)
        for case, complaint, owner, due, demand in rows
    ]
    return InboxPage(items, int(total), page, per_page, filters)


def _item(
    case: Case,
    complaint: Complaint | None,
    owner: str | None,
    due: Any,
    demanded: bool,
    now: datetime,
) -> InboxItem:
    campaign: Campaign = case.campaign
    due_at = as_utc(due) if due is not None else None
    kind = COMPLAINT if complaint else REFUSAL_DEMAND if demanded else QUESTION
    return InboxItem(
        case_id=case.id,
        campaign_id=case.campaign_id,
        campaign_name=campaign.name,
        kind=kind,
        stage=complaint.stage if complaint else QUESTION_STAGE,
        complaint_id=complaint.id if complaint else None,
        complaint_type=complaint.type if complaint else None,
        contact=contact_of(case.recipient),
        language=case.recipient.locale,
        channel=(complaint.channel if complaint else None) or case.answered_channel,
        waiting_since=complaint.stage_at if complaint else case.last_response_at,
        due_at=due_at,
        overdue=due_at is not None and due_at < now,
        owner=owner,
    )
