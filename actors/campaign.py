"""``campaign.fan_out``: hand every case of a launched campaign to ``case.notify_group``.

Chunks of ``fan_out_chunk`` cases: each chunk is claimed and the campaign's cursor moved in
one transaction, then (after the commit) enqueued as groups of ``notify_group_size`` cases
in one pipelined round trip. A fan-out
that dies part-way resumes from the cursor when redelivered; a chunk committed but never
enqueued is found by the sweep (its cases are due and their ``enqueued_at`` goes stale).
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from actors.broker import broker
from actors.case import enqueue_notify
from actors.retry import retry_options
from pipeline.cases.sweep import claim_due_cases, claim_fan_out_chunk
from pipeline.channel_port import queue_names
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

__all__ = ["broker", "enqueue_due", "fan_out"]


@dramatiq.actor(actor_name="campaign.fan_out", queue_name="campaign", **retry_options())
def fan_out(campaign_id: int) -> None:
    """Enqueue ``case.notify_group`` for every case of campaign ``campaign_id`` not yet handed on.

    While the pipeline's queues hold more than ``fan_out_high_water`` messages, it stops and
    sends itself again a little later (resuming from the cursor): a million-case launch then
    waits in the database, not in Redis, and no case sits in a queue long enough for the
    sweep to take its message for lost."""
    settings = get_settings()
    total = 0
    while True:
        if backlog() > settings.fan_out_high_water:
            fan_out.send_with_options(args=(campaign_id,), delay=settings.fan_out_pause_ms)
            break
        with session_scope() as session:
            ids = claim_fan_out_chunk(session, campaign_id, utcnow(), settings.fan_out_chunk)
        if not ids:
            break
        total += enqueue_notify(ids)
    log.info("campaign.fanned_out campaign=%s cases=%s", campaign_id, total)


def backlog() -> int:
    """Messages waiting in (or being worked on from) the pipeline's queues, a case queue
    message counted as a full group (the high water is about cases waiting); 0 off Redis."""
    if not isinstance(broker, RedisBroker):
        return 0
    groups = int(broker.do_qsize("case")) * get_settings().notify_group_size
    return groups + sum(int(broker.do_qsize(queue)) for queue in queue_names())


def enqueue_due(*, campaign_id: int | None = None, limit: int = 1000) -> int:
    """Claim every due case (of one campaign, or all) and enqueue them as ``case.notify_group``,
    batch by batch, each batch after its claim commits. Returns how many were enqueued.
    The scheduler's sweep job and ``recall resume`` call this."""
    total = 0
    while True:
        with session_scope() as session:
            ids = claim_due_cases(session, utcnow(), limit, campaign_id=campaign_id)
        if not ids:
            return total
        total += enqueue_notify(ids)
