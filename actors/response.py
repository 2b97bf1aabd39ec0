"""``response.process``: turn one stored inbound event into case changes and follow-ups.

Thin on purpose: a session, one call into ``pipeline.inbound.answers``, the follow-ups it calls for
(confirmations, acknowledgements) written to the outbox in the same transaction, a commit,
then they are enqueued — only once the state change they announce is committed, and found
again by the scheduler if this worker dies before it enqueues them. Retries are bounded and
only for transient failures (``actors.retry``); an event that keeps failing stays unhandled
in ``inbound_event`` where operations see it, and the scheduler hands back events whose
message was lost (``pipeline.cases.sweep``).
"""

from __future__ import annotations

import logging

import dramatiq

from actors.batch import enqueue_many
from actors.broker import broker  # sets the broker before the actor is declared
from actors.channel import send_followup
from actors.retry import retry_options
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.followups.outbox import stage_followups
from pipeline.inbound.answers import process_inbound_event

log = logging.getLogger(__name__)

__all__ = ["QUEUE", "broker", "enqueue_processing", "process"]

# Its own queue, so operations see the backlog of answers apart from sends.
QUEUE = "response"


@dramatiq.actor(actor_name="response.process", queue_name=QUEUE, **retry_options())
def process(inbound_event_id: int) -> None:
    """Apply the answer or status update carried by inbound event ``inbound_event_id``."""
    with session_scope() as session:
        follow_ups = process_inbound_event(session, inbound_event_id)
        staged = stage_followups(session, inbound_event_id, follow_ups, utcnow())
    for follow_up in staged:
        # Keyed by the event: however often this runs, each follow-up is sent once.
        send_followup.send(
            follow_up.case_id, follow_up.channel, follow_up.kind, None, follow_up.key
        )
    log.info(
        "response.processed",
        extra={"inbound_event_id": inbound_event_id, "follow_ups": len(follow_ups)},
    )


def enqueue_processing(event_ids: list[int]) -> None:
    """Hand each stored event to ``response.process``, in one Redis pipeline. Call only
    after the commit."""
    if event_ids:
        enqueue_many(process, [(event_id,) for event_id in event_ids])
