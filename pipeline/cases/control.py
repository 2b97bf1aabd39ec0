"""Campaign control: pause, resume, cancel. Each is audited.

Workers read the campaign's state in the same transaction that takes a step for sending
(``pipeline.cases.delivery.begin_send``) and before deciding anything for a case
(``pipeline.cases.notify.notify_case``), so a pause or cancel holds on every worker for every send
that has not yet started: sending stops within one provider call. A paused campaign's
claimed steps stay claimed; ``resume`` makes them due again, and the caller enqueues the
due cases (``claim_due_cases(..., campaign_id=...)``). A cancelled case is closed through
the state machine and is never contacted again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline.cases.events import apply_event
from pipeline.cases.states import FINAL_STATES, LADDER_STATES, CaseEvent, CaseState
from pipeline.clock import utcnow
from pipeline.db import lock_rows
from pipeline.errors import InvalidState, NotFound
from pipeline.models import Campaign, Case
from pipeline.privacy import audit

OPEN_STATES = [state.value for state in CaseState if state not in FINAL_STATES]
CHUNK = 500


def _campaign(session: Session, campaign_id: int) -> Campaign:
    # NO KEY UPDATE, not FOR UPDATE: inserts that reference the campaign take KEY SHARE
    # on it (foreign-key checks) while holding an audit chain lock, which this transaction
    # takes next; FOR UPDATE would wait on them and they on it — a deadlock.
    query = lock_rows(session, select(Campaign).where(Campaign.id == campaign_id), no_key=True)
    campaign = session.scalars(query).one_or_none()
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return campaign


def _move(
    session: Session,
    campaign: Campaign,
    allowed: tuple[str, ...],
    target: str,
    actor: str,
    data: dict[str, object] | None = None,
) -> str:
    before = campaign.state
    if before not in allowed:
        raise InvalidState(f"campaign {campaign.id} is {before}; cannot {_verb(target)} it")
    campaign.state = target
    audit.record(
        session,
        actor=actor,
        action=f"campaign.{_verb(target)}",
        entity=f"campaign:{campaign.id}",
        data={"from": before, "to": target, **(data or {})},
    )
    return before


def _verb(target: str) -> str:
    return {"paused": "pause", "running": "resume", "cancelled": "cancel"}[target]


def pause(session: Session, campaign_id: int, actor: str) -> None:
    """Stop sending for a running campaign; answers are still processed."""
    _move(session, _campaign(session, campaign_id), ("running",), "paused", actor)


def resume(session: Session, campaign_id: int, actor: str, *, now: datetime | None = None) -> int:
    """Restart a paused campaign; returns how many cases were made due at once."""
    now = now or utcnow()
    campaign = _campaign(session, campaign_id)
    on_ladder = [state.value for state in LADDER_STATES]
    # Steps claimed or due during the pause are looked at now rather than at lease end;
    # the messages handled while paused were dropped, so nothing is "in the broker".
    made_due = session.execute(
        update(Case)
        .where(
            Case.campaign_id == campaign_id,
            Case.state.in_(["pending", "notifying"]),
            Case.next_due_at > now,
        )
        .values(next_due_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        update(Case)
        .where(Case.campaign_id == campaign_id, Case.state.in_(on_ladder))
        .values(enqueued_at=None)
        .execution_options(synchronize_session=False)
    )
    _move(session, campaign, ("paused",), "running", actor, {"made_due": made_due})
    return int(made_due)


def cancel(session: Session, campaign_id: int, actor: str, *, now: datetime | None = None) -> int:
    """Cancel a campaign: every open case is closed as cancelled and never contacted again.
    Returns how many cases were cancelled."""
    now = now or utcnow()
    campaign = _campaign(session, campaign_id)
    _move(session, campaign, ("draft", "running", "paused"), "cancelled", actor)
    ids = list(
        session.scalars(
            select(Case.id)
            .where(Case.campaign_id == campaign_id, Case.state.in_(OPEN_STATES))
            .order_by(Case.id)
        )
    )
    for start in range(0, len(ids), CHUNK):
        for case in session.scalars(select(Case).where(Case.id.in_(ids[start : start + CHUNK]))):
            apply_event(session, case, CaseEvent.CANCEL, now=now, actor=actor)
    count = len(ids)
    campaign.closed_at = now
    return count
