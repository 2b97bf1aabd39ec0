"""Stored webhooks that no worker has handled: hand them back.

A webhook is stored, committed, then enqueued. If the broker was down at that moment (or a
Redis without persistence restarted with the message on it), the event sits in
``inbound_event`` with ``handled_at`` null and the provider, having been answered, never
retries. The scheduler calls this every minute or so and re-enqueues what it returns;
``process_inbound_event`` locks the row and skips handled events, so an event that was only
slow is not processed twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.models import InboundEvent

# Younger events are probably still on their way through the queue.
STALE_AFTER = timedelta(minutes=2)
# Older ones have been re-offered for a day; operations see them as unhandled.
GIVE_UP_AFTER = timedelta(days=1)


def stale_inbound_event_ids(
    session: Session,
    now: datetime,
    *,
    stale_after: timedelta = STALE_AFTER,
    give_up_after: timedelta = GIVE_UP_AFTER,
    limit: int = 1000,
) -> list[int]:
    """Ids of unhandled events received between ``give_up_after`` and ``stale_after`` ago."""
    query = (
        select(InboundEvent.id)
        .where(
            InboundEvent.handled_at.is_(None),
            InboundEvent.received_at < now - stale_after,
            InboundEvent.received_at >= now - give_up_after,
        )
        .order_by(InboundEvent.id)
        .limit(limit)
    )
    return list(session.scalars(query))
