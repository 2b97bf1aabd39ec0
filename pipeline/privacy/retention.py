"""Retention: ``RECALL_RETENTION_DAYS`` after a campaign closes, what it gathered about
people goes, and the counts stay.

Purged: the raw payloads of the webhooks matched to its cases (found through
``inbound_event.case_id``, an index), the texts of its responses and their senders, agents'
replies and provider error texts on its cases, and the name, phone and email of each of its
recipients who has no case left in a live campaign (their suppression flags stay: an
opt-out outlives the data). Webhooks that matched no case and were handled before the
campaign closed go with it. Kept: cases, states, attempts' statuses and costs, responses'
kinds, the tallies and the audit log, which records each purge with counts only.

The scheduler's ``retention`` job calls ``purge_due`` (one campaign per run, so a run stays
short); campaigns due are found by ``campaign.state`` (indexed) and ``closed_at``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from pipeline.models import Attempt, Base, Campaign, Case, InboundEvent, Recipient, Response
from pipeline.privacy import audit
from pipeline.privacy.erasure import CASE_TEXT_COLUMNS

CLOSED_STATES = ("closed", "cancelled")
LIVE_STATES = ("draft", "running", "paused")
PURGED_PAYLOAD = {"purged": True}


@dataclass(frozen=True)
class PurgeSummary:
    campaign_id: int
    webhooks: int
    responses: int
    recipients: int


def due_campaign(session: Session, now: datetime, days: int) -> int | None:
    """The oldest closed campaign whose retention has run out and is not purged yet."""
    cutoff = now - timedelta(days=days)
    return session.scalar(
        select(Campaign.id)
        .where(
            Campaign.state.in_(CLOSED_STATES),
            Campaign.purged_at.is_(None),
            Campaign.closed_at <= cutoff,
        )
        .order_by(Campaign.closed_at)
        .limit(1)
    )


def purge_campaign(
    session: Session, campaign_id: int, now: datetime, *, actor: str = "scheduler:retention"
) -> PurgeSummary:
    """Purge one campaign's personal data in the caller's transaction (see the module)."""
    cases = select(Case.id).where(Case.campaign_id == campaign_id).scalar_subquery()
    webhooks = _count(
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.case_id.in_(cases))
            .values(payload=PURGED_PAYLOAD)
            .execution_options(synchronize_session=False)
        )
    )
    responses = _count(
        session.execute(
            update(Response)
            .where(Response.case_id.in_(cases))
            .values(raw_text="", sender=None)
            .execution_options(synchronize_session=False)
        )
    )
    session.execute(
        update(Attempt)
        .where(Attempt.case_id.in_(cases))
        .values(error_reason=None)
        .execution_options(synchronize_session=False)
    )
    _purge_case_texts(session, cases)
    recipients = _purge_contacts(session, campaign_id, now)
    campaign = session.get(Campaign, campaign_id)
    if campaign is not None:
        campaign.purged_at = now
        if campaign.closed_at is not None:
            webhooks += purge_unmatched_webhooks(session, campaign.closed_at)
    summary = PurgeSummary(campaign_id, webhooks, responses, recipients)
    data = {k: v for k, v in asdict(summary).items() if k != "campaign_id"}
    audit.record(
        session, actor=actor, action="retention.purge", entity=f"campaign:{campaign_id}", data=data
    )
    return summary


def _count(result: Any) -> int:
    # An UPDATE's result is a CursorResult; its rowcount is the rows changed.
    return int(getattr(result, "rowcount", 0) or 0)


def _purge_case_texts(session: Session, cases: Any) -> None:
    for name, columns in CASE_TEXT_COLUMNS.items():
        table = Base.metadata.tables.get(name)
        if table is None:
            continue
        blank = {c: (None if table.c[c].nullable else "") for c in columns}
        session.execute(update(table).where(table.c.case_id.in_(cases)).values(blank))


def _purge_contacts(session: Session, campaign_id: int, now: datetime) -> int:
    """Clear the contact data of this campaign's recipients who have no case in a live
    campaign (one who does is still being reached: their data is still for its purpose)."""
    live = (
        select(Case.id)
        .join(Campaign, Campaign.id == Case.campaign_id)
        .where(Case.recipient_id == Recipient.id, Campaign.state.in_(LIVE_STATES))
    )
    ours = select(Case.recipient_id).where(Case.campaign_id == campaign_id)
    result = session.execute(
        update(Recipient)
        .where(Recipient.id.in_(ours), ~exists(live), Recipient.erased_at.is_(None))
        .where((Recipient.phone.is_not(None)) | (Recipient.email.is_not(None)))
        .values(name="", phone=None, email=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _count(result)


def purge_unmatched_webhooks(session: Session, before: datetime) -> int:
    """Webhooks that matched no case and were handled before ``before`` (``handled_at`` is
    indexed). Run with each campaign's purge, up to its close: those are at least the
    retention period old, and a row is rewritten once per purged campaign at most."""
    result = session.execute(
        update(InboundEvent)
        .where(InboundEvent.case_id.is_(None), InboundEvent.handled_at <= before)
        .values(payload=PURGED_PAYLOAD)
        .execution_options(synchronize_session=False)
    )
    return _count(result)


def purge_due(session: Session, now: datetime, days: int | None) -> PurgeSummary | None:
    """One run of the scheduler's job: purge the oldest due campaign, if any, and the old
    unmatched webhooks. ``days`` None (the setting unset) purges nothing."""
    if days is None:
        return None
    campaign_id = due_campaign(session, now, days)
    return None if campaign_id is None else purge_campaign(session, campaign_id, now)
