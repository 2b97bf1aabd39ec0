"""``response.process``: turn one stored inbound event into case changes and follow-ups.

Thin on purpose: a session, one call into ``pipeline.answers``, a commit, then the
follow-ups (confirmations, acknowledgements) are enqueued — only once the state change they
announce is committed. Retries are bounded; an event that keeps failing stays unhandled in
``inbound_event`` where operations can see it and the sweep can hand it back.
"""

from __future__ import annotations

import logging

import dramatiq

from actors.broker import broker  # sets the broker before the actor is declared
from pipeline.db import session_scope

log = logging.getLogger(__name__)

__all__ = ["broker", "process"]


@dramatiq.actor(
    actor_name="response.process",
    max_retries=5,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=60_000,
)
def process(inbound_event_id: int) -> None:
    """Apply the answer or status update carried by inbound event ``inbound_event_id``."""
    # Imported here while the inbound and pipeline teams' modules are not on main yet;
    # the web process only needs this actor's name to enqueue, not its dependencies.
    from actors.channel import send_followup
    from pipeline.answers import process_inbound_event

    with session_scope() as session:
        follow_ups = process_inbound_event(session, inbound_event_id)
    for follow_up in follow_ups:
        send_followup.send(follow_up.case_id, str(follow_up.channel), str(follow_up.kind))
    log.info(
        "response.processed",
        extra={"inbound_event_id": inbound_event_id, "follow_ups": len(follow_ups)},
    )
