"""``campaign.fan_out``: hand every case of a launched campaign to ``case.notify``.

Chunks of ``fan_out_chunk`` cases: each chunk is claimed and the campaign's cursor moved in
one transaction, then (after the commit) enqueued in one pipelined round trip. A fan-out
that dies part-way resumes from the cursor when redelivered; a chunk committed but never
enqueued is found by the sweep (its cases are due and their ``enqueued_at`` goes stale).
"""

from __future__ import annotations

import logging

import dramatiq

from actors.batch import enqueue_many
from actors.broker import broker
from actors.case import notify
from actors.retry import retry_options
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.settings import get_settings
from pipeline.sweep import claim_due_cases, claim_fan_out_chunk

log = logging.getLogger(__name__)

__all__ = ["broker", "enqueue_due", "fan_out"]


@dramatiq.actor(actor_name="campaign.fan_out", queue_name="campaign", **retry_options())
def fan_out(campaign_id: int) -> None:
    """Enqueue ``case.notify`` for every case of campaign ``campaign_id`` not yet handed on."""
    chunk = get_settings().fan_out_chunk
    total = 0
    while True:
        with session_scope() as session:
            ids = claim_fan_out_chunk(session, campaign_id, utcnow(), chunk)
        if not ids:
            break
        total += enqueue_many(notify, [(case_id,) for case_id in ids], batch=chunk)
    log.info("campaign.fanned_out", extra={"campaign_id": campaign_id, "cases": total})


def enqueue_due(*, campaign_id: int | None = None, limit: int = 1000) -> int:
    """Claim every due case (of one campaign, or all) and enqueue ``case.notify`` for each,
    batch by batch, each batch after its claim commits. Returns how many were enqueued.
    The scheduler's sweep job and ``recall resume`` call this."""
    total = 0
    while True:
        with session_scope() as session:
            ids = claim_due_cases(session, utcnow(), limit, campaign_id=campaign_id)
        if not ids:
            return total
        total += enqueue_many(notify, [(case_id,) for case_id in ids], batch=limit)
