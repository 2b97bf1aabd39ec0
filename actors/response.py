"""``response.process`` and ``response.process_group``: turn stored inbound events into case
changes and follow-ups.

Thin on purpose: a session, one call into ``pipeline.inbound``, the follow-ups it calls for
(confirmations, acknowledgements) written to the outbox in the same transaction, a commit,
then they are enqueued — only once the state change they announce is committed, and found
again by the scheduler if this worker dies before it enqueues them. Retries are bounded and
only for transient failures (``actors.retry``); an event that keeps failing stays unhandled
in ``inbound_event`` where operations see it, and the scheduler hands back events whose
message was lost (``pipeline.cases.sweep``).

Webhooks come in streams, so ``enqueue_processing`` hands them on in groups: one message,
one transaction and one commit for up to ``GROUP_SIZE`` events
(``pipeline.inbound.groups``). An event of a group that fails is rolled back alone and sent
on as its own ``response.process`` after the commit, where its retries are its own.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq

from actors.batch import enqueue_messages
from actors.broker import broker  # sets the broker before the actor is declared
from actors.channel import send_followup
from actors.retry import retry_options
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.followups.outbox import StagedFollowUp, stage_followups
from pipeline.inbound.answers import process_inbound_event
from pipeline.inbound.groups import process_inbound_group

log = logging.getLogger(__name__)

__all__ = ["GROUP_SIZE", "QUEUE", "broker", "enqueue_processing", "process", "process_group"]

# Its own queue, so operations see the backlog of answers apart from sends.
QUEUE = "response"
# Events per group: enough to share a commit and a message among many, few enough that one
# group holds its cases' locks briefly and the worker threads still share the work.
GROUP_SIZE = 20


@dramatiq.actor(actor_name="response.process", queue_name=QUEUE, **retry_options())
def process(inbound_event_id: int) -> None:
    """Apply the answer or status update carried by inbound event ``inbound_event_id``."""
    with session_scope() as session:
        follow_ups = process_inbound_event(session, inbound_event_id)
        staged = stage_followups(session, inbound_event_id, follow_ups, utcnow())
    _enqueue_after_commit(staged, [])
    log.info(
        "response.processed",
        extra={"inbound_event_id": inbound_event_id, "follow_ups": len(follow_ups)},
    )


@dramatiq.actor(actor_name="response.process_group", queue_name=QUEUE, **retry_options())
def process_group(inbound_event_ids: list[int]) -> None:
    """Apply the events ``inbound_event_ids`` in one transaction, each in a savepoint."""
    with session_scope() as session:
        outcome = process_inbound_group(session, inbound_event_ids)
    _enqueue_after_commit(outcome.staged, outcome.failed)
    log.info(
        "response.group_processed",
        extra={
            "events": len(inbound_event_ids),
            "failed": len(outcome.failed),
            "follow_ups": len(outcome.staged),
        },
    )


def _enqueue_after_commit(staged: list[StagedFollowUp], failed: list[int]) -> None:
    """One pipelined round trip for everything a committed transaction hands on."""
    # Keyed by the event: however often this runs, each follow-up is sent once.
    messages: list[dramatiq.Message[Any]] = [
        send_followup.message(f.case_id, f.channel, f.kind, None, f.key) for f in staged
    ]
    messages += [process.message(event_id) for event_id in failed]
    if messages:
        enqueue_messages(broker, messages)


def enqueue_processing(event_ids: list[int]) -> None:
    """Hand the stored events on in groups of ``GROUP_SIZE``, in one Redis pipeline; a lone
    event as ``response.process``. Call only after the commit."""
    groups = [event_ids[i : i + GROUP_SIZE] for i in range(0, len(event_ids), GROUP_SIZE)]
    messages = [
        process.message(group[0]) if len(group) == 1 else process_group.message(group)
        for group in groups
    ]
    if messages:
        enqueue_messages(broker, messages)
