"""``case.notify``: the one entry point for a case's due work (send the step, recover a
lost send, escalate after the step's wait). The scheduler's sweep and the fan-out only
enqueue it; what is due is decided here from the database."""

from __future__ import annotations

import logging

import dramatiq

from actors.broker import broker
from actors.channel import SEND_ACTORS
from actors.retry import retry_options
from pipeline.cases.notify import Outcome, notify_case
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

__all__ = ["broker", "notify"]


@dramatiq.actor(actor_name="case.notify", queue_name="case", **retry_options())
def notify(case_id: int) -> None:
    """Do whatever is due for case ``case_id``; enqueue its send after the commit."""
    with session_scope() as session:
        result = notify_case(session, case_id, utcnow(), get_settings())
    if result.outcome is Outcome.SEND and result.attempt_id is not None and result.channel:
        SEND_ACTORS[result.channel].send(result.attempt_id)
    log.info(
        "case.notified case=%s outcome=%s reason=%s channel=%s",
        case_id,
        result.outcome.value,
        result.reason,
        result.channel,
    )
