"""Refusal demands in the agents' inbox: a refusal whose reason asks something of us
(compensation, another remedy) is an item an agent handles and closes.

Kept beside ``inbox.py`` rather than in it: the inbox lists them (kind ``refusal_demand``)
next to open questions, with the campaign's own query deadline as the item's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.events import query_sla
from pipeline.errors import InvalidState, NotFound
from pipeline.models import Case, RefusalDemand
from pipeline.privacy import audit
from pipeline.privacy.masking import mask_text

DEMAND_KIND = "refusal_demand"


@dataclass(frozen=True)
class DemandItem:
    id: int
    case_id: int
    campaign_id: int
    campaign_name: str
    name: str
    reason: str
    text: str  # masked
    opened_at: datetime
    due_at: datetime | None
    overdue: bool
    kind: str = DEMAND_KIND


def open_demand(
    session: Session, case: Case, reason: str, text: str, now: datetime
) -> RefusalDemand:
    """Open an inbox item for a demand (one open item per case: a later demand updates it)."""
    existing = session.scalars(
        select(RefusalDemand).where(
            RefusalDemand.case_id == case.id, RefusalDemand.closed_at.is_(None)
        )
    ).first()
    if existing is not None:
        existing.reason, existing.text = reason, text[:4000]
        return existing
    demand = RefusalDemand(
        case_id=case.id,
        reason=reason,
        text=text[:4000],
        opened_at=now,
        due_at=now + query_sla(case.campaign.spec or {}),
    )
    session.add(demand)
    session.flush()
    return demand


def open_demands(session: Session, now: datetime, limit: int = 200) -> list[DemandItem]:
    """Open demands, the longest-waiting first, text masked."""
    rows = session.execute(
        select(RefusalDemand, Case)
        .join(Case, Case.id == RefusalDemand.case_id)
        .where(RefusalDemand.closed_at.is_(None))
        .order_by(RefusalDemand.opened_at, RefusalDemand.id)
        .limit(limit)
    )
    return [
        DemandItem(
            demand.id,
            case.id,
            case.campaign_id,
            case.campaign.name,
            case.recipient.name,
            demand.reason,
            mask_text(demand.text),
            demand.opened_at,
            demand.due_at,
            demand.due_at is not None and demand.due_at < now,
        )
        for demand, case in rows
    ]


def close_demand(session: Session, demand_id: int, agent: str, now: datetime) -> RefusalDemand:
    """An agent handled the demand (passed it to the recall team, answered the person)."""
    demand = session.get(RefusalDemand, demand_id)
    if demand is None:
        raise NotFound(f"no refusal demand {demand_id}")
    if demand.closed_at is not None:
        raise InvalidState(f"refusal demand {demand_id} is already closed")
    demand.closed_at, demand.closed_by = now, agent
    audit.record(
        session,
        actor=agent,
        action="refusal_demand.close",
        entity=f"case:{demand.case_id}",
        data={"demand_id": demand.id, "reason": demand.reason},
    )
    return demand
