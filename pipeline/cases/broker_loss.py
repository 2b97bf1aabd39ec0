"""After the broker lost its messages: hand back everything the database says is in flight.

Redis carries work, PostgreSQL owns it. When the broker's data is gone (a Redis restarted
without persistence, a flushed db, a failover to an empty replica), every message that was
waiting in it is gone too — but each one left a trace in a row:

- a case on the ladder with ``enqueued_at`` set: its ``case.notify`` was in the broker;
- a case ``notifying``: its ``channel.send_*`` (or its retry) was in the broker, and its
  ``next_due_at`` is only the end of the step's lease;
- a stored webhook not yet handled: its ``response.process`` was in the broker;
- a follow-up still ``claimed`` and never tried: its ``channel.send_followup`` was.

``release_in_flight`` makes all of these due *now* instead of when their lease or requeue
window runs out (minutes): cases are released for the next due scan, the webhooks and
follow-ups are claimed and returned for the caller to enqueue after commit. Everything it
re-enqueues is idempotent (attempt keys, the attempt's claimed → sending step, the
inbound event's ``handled_at``, the follow-up's unique key), so a message that was not lost
after all costs a no-op, never a second text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline.cases.states import CaseState
from pipeline.cases.sweep import INBOUND_GIVE_UP, LADDER, claim_rows
from pipeline.followups.outbox import NOT_FROM_THE_OUTBOX, StagedFollowUp
from pipeline.models import Campaign, Case, FollowUpSend, InboundEvent


@dataclass(frozen=True)
class Released:
    """What a repair handed back: cases made due, and the messages to enqueue again."""

    cases: int
    event_ids: list[int]
    follow_ups: list[StagedFollowUp]


def _running_campaigns() -> object:
    return select(Campaign.id).where(Campaign.state == "running").scalar_subquery()


def release_cases(session: Session, now: datetime) -> int:
    """Cases whose message was in the broker become due at once for the next due scan."""
    in_running = Case.campaign_id.in_(_running_campaigns())  # type: ignore[arg-type]
    # A claimed step's next_due_at is only its lease: look at it now (a send message that
    # was lost is sent again; one still being sent is left to its worker by notify's
    # stale-sending rule).
    notifying = session.execute(
        update(Case)
        .where(in_running, Case.state == CaseState.NOTIFYING.value, Case.next_due_at > now)
        .values(next_due_at=now, enqueued_at=None)
        .execution_options(synchronize_session=False)
    )
    queued = session.execute(
        update(Case)
        .where(in_running, Case.state.in_(LADDER), Case.enqueued_at.is_not(None))
        .values(enqueued_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(notifying.rowcount or 0) + int(queued.rowcount or 0)  # type: ignore[attr-defined]


def claim_all_unhandled_events(session: Session, now: datetime, limit: int) -> list[int]:
    """Every stored webhook still unhandled (younger than a day), whatever its age."""
    unhandled = (
        select(InboundEvent.id)
        .where(InboundEvent.handled_at.is_(None), InboundEvent.received_at > now - INBOUND_GIVE_UP)
        .order_by(InboundEvent.id)
        .limit(limit)
    )
    claimed = claim_rows(session, InboundEvent, unhandled, {"requeued_at": now}, InboundEvent.id)
    return sorted(claimed.scalars())


def claim_all_waiting_followups(
    session: Session, now: datetime, limit: int
) -> list[StagedFollowUp]:
    """Every follow-up still waiting for its first send, whatever its age."""
    waiting = (
        select(FollowUpSend.id)
        .where(
            FollowUpSend.status == "claimed",
            FollowUpSend.tries == 0,
            FollowUpSend.kind.not_in(NOT_FROM_THE_OUTBOX),
        )
        .order_by(FollowUpSend.id)
        .limit(limit)
    )
    row = (FollowUpSend.key, FollowUpSend.case_id, FollowUpSend.channel, FollowUpSend.kind)
    claimed = claim_rows(session, FollowUpSend, waiting, {"claimed_at": now}, *row)
    return sorted((StagedFollowUp(*values) for values in claimed), key=str)


def release_in_flight(session: Session, now: datetime, limit: int = 100_000) -> Released:
    """Everything in flight, due now (see the module docstring). Enqueue after commit."""
    return Released(
        cases=release_cases(session, now),
        event_ids=claim_all_unhandled_events(session, now, limit),
        follow_ups=claim_all_waiting_followups(session, now, limit),
    )
