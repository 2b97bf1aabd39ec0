"""Claiming due work from the database, which is the source of truth (Redis only carries it).

A case is due when its ``next_due_at`` has passed (its step's send, the end of a claimed
step's lease, the end of the step's wait) in a running campaign. ``enqueued_at`` says a
message for it is already in the broker; the sweep leaves such a case alone until that is
``requeue_after_seconds`` old — then the message is taken to be lost (a wiped Redis, a
worker killed mid-task) and the case is handed on again. ``case.notify`` clears
``enqueued_at`` when it handles the case, so the next due time is picked up at once.

Claims are atomic: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`` on
PostgreSQL, so two schedulers (or a sweep racing a fan-out) never hand out the same case
twice in one round; SQLite has a single writer, so the plain form is enough there.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from pipeline.cases.states import LADDER_STATES
from pipeline.db import lock_rows
from pipeline.models import Campaign, Case, InboundEvent
from pipeline.settings import Settings, get_settings

LADDER = [state.value for state in LADDER_STATES]


def claim_rows(
    session: Session, model: Any, candidates: Select[Any], values: dict[str, Any], *returning: Any
) -> Any:
    """Mark the rows ``candidates`` selects (their ids) with ``values`` and return
    ``returning`` of each: rows another transaction is claiming are skipped on PostgreSQL
    (``FOR UPDATE SKIP LOCKED``), so no row is handed out twice in one round."""
    candidates = lock_rows(session, candidates, of=model, skip_locked=True)
    statement = (
        update(model)
        .where(model.id.in_(candidates.scalar_subquery()))
        .values(**values)
        .returning(*returning)
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement)


def release_expired_leases(session: Session, limit: int, stale_before: datetime) -> int:
    """Forget up to ``limit`` claims older than ``stale_before``: their message is taken to
    be lost, so the case is free again and the due pass below finds it when it is due.
    Reads only expired claims (``ix_case_claimed``, ordered by ``enqueued_at``), however
    many fresh ones a fan-out just made. Returns how many were released."""
    expired = (
        select(Case.id)
        .where(Case.enqueued_at.is_not(None), Case.enqueued_at < stale_before)
        .order_by(Case.enqueued_at, Case.id)
        .limit(limit)
    )
    return len(claim_rows(session, Case, expired, {"enqueued_at": None}, Case.id).all())


def _free_due_query(campaign_id: int, now: datetime, limit: int) -> Select[Any]:
    # Exactly the predicate of ix_case_due_free, so the scan reads only due, unclaimed cases
    # of this campaign, oldest first, and stops at ``limit``: cases already enqueued (a
    # fan-out's hundreds of thousands) are not in that index at all.
    return (
        select(Case.id)
        .where(
            Case.campaign_id == campaign_id,
            Case.enqueued_at.is_(None),
            Case.next_due_at.is_not(None),
            Case.next_due_at <= now,
            Case.state.in_(LADDER),
        )
        .order_by(Case.next_due_at, Case.id)
        .limit(limit)
    )


def running_campaign_ids(session: Session, campaign_id: int | None = None) -> list[int]:
    """The running campaigns (a handful of rows): due work is claimed campaign by campaign,
    so the due cases of a paused campaign are never read."""
    query = select(Campaign.id).where(Campaign.state == "running").order_by(Campaign.id)
    if campaign_id is not None:
        query = query.where(Campaign.id == campaign_id)
    return list(session.scalars(query))


def claim_due_cases(
    session: Session,
    now: datetime,
    limit: int,
    *,
    campaign_id: int | None = None,
    settings: Settings | None = None,
) -> list[int]:
    """Claim up to ``limit`` due cases (setting ``enqueued_at = now``) and return their ids;
    the caller enqueues ``case.notify`` for each after committing.

    Two index range scans, each reading only what is due: expired claims are released
    first (their message is presumed lost), then each running campaign's due, unclaimed
    cases are claimed. Every running campaign gets an equal share of ``limit`` first, and
    what a small campaign leaves goes to the others, so a big fan-out starves no one."""
    settings = settings or get_settings()
    stale_before = now - timedelta(seconds=settings.requeue_after_seconds)
    release_expired_leases(session, limit, stale_before)
    campaigns = running_campaign_ids(session, campaign_id)
    claimed: list[int] = []
    hungry = campaigns
    share = -(-limit // max(len(campaigns), 1))
    while hungry and len(claimed) < limit:
        still_hungry = []
        for campaign in hungry:
            want = min(share, limit - len(claimed))
            if want <= 0:
                break
            due = _free_due_query(campaign, now, want)
            got = list(claim_rows(session, Case, due, {"enqueued_at": now}, Case.id).scalars())
            claimed += got
            if len(got) == want:
                still_hungry.append(campaign)
        hungry = still_hungry
        share = -(-(limit - len(claimed)) // max(len(hungry), 1))
    return sorted(claimed)


def claim_fan_out_chunk(session: Session, campaign_id: int, now: datetime, limit: int) -> list[int]:
    """The next ``limit`` cases of a running campaign after its fan-out cursor, marked
    enqueued; the cursor moves past them, so a restarted fan-out resumes where it stopped.
    The campaign row is locked, so two fan-outs of one campaign take turns."""
    # NO KEY UPDATE, not FOR UPDATE: inserts that reference the campaign take KEY SHARE
    # on it (foreign-key checks) while holding an audit chain lock, which this transaction
    # takes next; FOR UPDATE would wait on them and they on it — a deadlock.
    query = lock_rows(session, select(Campaign).where(Campaign.id == campaign_id), no_key=True)
    campaign = session.scalars(query).one_or_none()
    if campaign is None or campaign.state != "running":
        return []
    ids = list(
        session.scalars(
            select(Case.id)
            .where(Case.campaign_id == campaign_id, Case.id > campaign.fan_out_cursor)
            .order_by(Case.id)
            .limit(limit)
        )
    )
    if not ids:
        return []
    session.execute(
        update(Case)
        .where(Case.id.in_(ids), Case.state.in_(LADDER))
        .values(enqueued_at=now)
        .execution_options(synchronize_session=False)
    )
    campaign.fan_out_cursor = ids[-1]
    return ids


# Past this age an unhandled event has failed for a day: operations look at it by hand.
INBOUND_GIVE_UP = timedelta(days=1)


def claim_unhandled_events(
    session: Session, now: datetime, limit: int, *, settings: Settings | None = None
) -> list[int]:
    """Stored webhooks whose ``response.process`` message went missing: unhandled for
    ``inbound_requeue_after_seconds`` and not handed on again within that time. Marks them
    requeued and returns their ids; the caller enqueues ``response.process`` after commit.
    Handling is idempotent, so an event that was only slow is not handled twice."""
    settings = settings or get_settings()
    after = timedelta(seconds=settings.inbound_requeue_after_seconds)
    stuck = (
        select(InboundEvent.id)
        .where(
            InboundEvent.handled_at.is_(None),
            InboundEvent.received_at < now - after,
            InboundEvent.received_at > now - INBOUND_GIVE_UP,
            or_(InboundEvent.requeued_at.is_(None), InboundEvent.requeued_at < now - after),
        )
        .order_by(InboundEvent.id)
        .limit(limit)
    )
    claimed = claim_rows(session, InboundEvent, stuck, {"requeued_at": now}, InboundEvent.id)
    return sorted(claimed.scalars())


def release_dead_claims(session: Session, now: datetime) -> int:
    """For a process that starts its own in-process broker over this database (``recall
    run`` resuming): the broker of the run before died with it, so every case it had
    claimed is due again now instead of after ``requeue_after_seconds``. Sends are
    idempotent per case and step, so a step that did go out is not sent again.
    Returns how many cases were released."""
    on_ladder = Case.state.in_(LADDER)
    released = session.execute(
        update(Case)
        .where(on_ladder, Case.enqueued_at.is_not(None))
        .values(enqueued_at=None)
        .returning(Case.id)
        .execution_options(synchronize_session=False)
    ).all()
    session.execute(
        update(Case)
        .where(Case.state == "notifying", Case.next_due_at > now)
        .values(next_due_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(released)
