"""Enqueueing many messages at once: one pipelined round trip to Redis per batch.

Dramatiq's ``RedisBroker.enqueue`` runs its Lua ``dispatch`` script once per message, one
network round trip each. Here the same script runs for every message of a batch inside one
Redis pipeline, so a fan-out of N cases costs N / batch round trips. The messages are the
same as ``broker.enqueue`` would write (a fresh ``redis_message_id`` each; the broker's
enqueue hooks run), so workers cannot tell the difference. Other brokers get a plain loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis


def enqueue_many(
    actor: dramatiq.Actor[Any, Any], arg_tuples: Iterable[Sequence[Any]], *, batch: int = 1000
) -> int:
    """Send ``actor`` one message per argument tuple; returns how many were sent."""
    messages = [actor.message(*args) for args in arg_tuples]
    return enqueue_messages(actor.broker, messages, batch=batch)


def enqueue_messages(
    broker: dramatiq.Broker, messages: Sequence[dramatiq.Message[Any]], *, batch: int = 1000
) -> int:
    """Enqueue ready-made messages on ``broker``, pipelined on Redis."""
    if not isinstance(broker, RedisBroker):
        for message in messages:
            broker.enqueue(message)
        return len(messages)
    for start in range(0, len(messages), batch):
        _enqueue_pipelined(broker, list(messages[start : start + batch]))
    return len(messages)


def _enqueue_pipelined(broker: RedisBroker, messages: list[dramatiq.Message[Any]]) -> None:
    dispatch = broker.scripts["dispatch"]
    unpack = broker._max_unpack_size()
    copies = [message.copy(options={"redis_message_id": str(uuid4())}) for message in messages]
    with broker.client.pipeline(transaction=False) as pipe:
        for message in copies:
            broker.emit_before("enqueue", message, None)
            args = [
                "enqueue",
                current_millis(),
                message.queue_name,
                broker.broker_id,
                broker.heartbeat_timeout,
                broker.dead_message_ttl,
                0,
                unpack,
                message.options["redis_message_id"],
                message.encode(),
            ]
            dispatch(keys=[broker.namespace], args=args, client=pipe)
        pipe.execute()
    for message in copies:
        broker.emit_after("enqueue", message, None)
