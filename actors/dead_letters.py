"""Dead-lettered messages: list, requeue, delete. Pipeline-agnostic (any actor, any queue),
for the dashboard and for operators.

On Redis these are Dramatiq's own dead-letter sets: ``{namespace}:{queue}.XQ`` (a sorted set
of message ids by the time they died) and ``{namespace}:{queue}.XQ.msgs`` (id → message),
kept for the broker's ``dead_message_ttl``. On the in-process broker, its dead-letter lists.
A requeued message starts with a fresh retry budget; our actors are idempotent, so a
requeue never repeats work that was done.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

# Dramatiq keeps the message as first enqueued in the Redis dead-letter set, without the
# traceback of the failure; DeadLetterNotes keeps that line beside it.
ERROR_TTL_SECONDS = 7 * 86400


class DeadLetterNotes(Middleware):
    """Remembers why each message was dead-lettered (the traceback's last line)."""

    def after_nack(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        if not isinstance(broker, RedisBroker):
            return  # the in-process broker keeps the failed message itself
        lines = str(message.options.get("traceback") or "").strip().splitlines()
        key = _errors_key(broker, _live_queue(message.queue_name))
        broker.client.hset(key, message.options["redis_message_id"], lines[-1] if lines else "")
        broker.client.expire(key, ERROR_TTL_SECONDS)


def _errors_key(broker: RedisBroker, queue: str) -> str:
    return f"{broker.namespace}:{queue}.XQ.errors"


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    id: str  # the broker's id for the dead copy (pass it to requeue / delete)
    message_id: str
    actor: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    retries: int
    error: str  # the last line of the traceback
    died_at: datetime | None


def _queues(broker: dramatiq.Broker, queue: str | None) -> list[str]:
    if queue is not None:
        return [queue]
    return sorted(name for name in broker.get_declared_queues() if not name.endswith(".DQ"))


def _describe(
    queue: str, dead_id: str, message: dramatiq.Message[Any], died_ms: float | None
) -> DeadLetter:
    traceback = str(message.options.get("traceback") or "").strip().splitlines()
    return DeadLetter(
        queue=queue,
        id=dead_id,
        message_id=message.message_id,
        actor=message.actor_name,
        args=tuple(message.args),
        kwargs=dict(message.kwargs),
        retries=int(message.options.get("retries", 0)),
        error=traceback[-1] if traceback else "",
        died_at=datetime.fromtimestamp(died_ms / 1000, UTC) if died_ms is not None else None,
    )


def list_dead_letters(
    queue: str | None = None, *, limit: int = 100, broker: dramatiq.Broker | None = None
) -> list[DeadLetter]:
    """Dead-lettered messages, newest first, at most ``limit`` per queue."""
    broker = broker or dramatiq.get_broker()
    found: list[DeadLetter] = []
    for name in _queues(broker, queue):
        found += (
            _list_redis(broker, name, limit)
            if isinstance(broker, RedisBroker)
            else _list_stub(broker, name, limit)
        )
    return found


def _xq(broker: RedisBroker, queue: str) -> tuple[str, str]:
    key = f"{broker.namespace}:{queue}.XQ"
    return key, f"{key}.msgs"


def _list_redis(broker: RedisBroker, queue: str, limit: int) -> list[DeadLetter]:
    key, messages_key = _xq(broker, queue)
    entries: list[Any] = list(broker.client.zrevrange(key, 0, limit - 1, withscores=True))
    if not entries:
        return []
    ids = [entry[0] for entry in entries]
    payloads = broker.client.hmget(messages_key, ids)
    errors = broker.client.hmget(_errors_key(broker, queue), ids)
    letters = []
    for (dead_id, died_ms), payload, error in zip(entries, payloads, errors, strict=True):
        if payload is not None:
            message = dramatiq.Message.decode(payload)
            letter = _describe(queue, dead_id.decode(), message, died_ms)
            if error:
                letter = dataclasses.replace(letter, error=error.decode())
            letters.append(letter)
    return letters


def _list_stub(broker: dramatiq.Broker, queue: str, limit: int) -> list[DeadLetter]:
    assert isinstance(broker, StubBroker)
    proxies = list(reversed(broker.dead_letters_by_queue.get(queue, [])))[:limit]
    return [_describe(queue, proxy.message_id, proxy._message, None) for proxy in proxies]


def requeue_dead_letter(queue: str, dead_id: str, *, broker: dramatiq.Broker | None = None) -> bool:
    """Put one dead message back on its queue with a fresh retry budget."""
    broker = broker or dramatiq.get_broker()
    message = _take(broker, queue, dead_id)
    if message is None:
        return False
    options = {k: v for k, v in message.options.items() if k not in _RUN_OPTIONS}
    fresh = dataclasses.replace(
        message, options=options, queue_name=_live_queue(message.queue_name)
    )
    broker.enqueue(fresh)
    return True


# Options a run leaves on a message; a requeued message starts clean.
_RUN_OPTIONS = frozenset({"retries", "traceback", "requeue_timestamp", "redis_message_id", "eta"})


def _live_queue(name: str) -> str:
    return name[: -len(".DQ")] if name.endswith(".DQ") else name


def delete_dead_letter(queue: str, dead_id: str, *, broker: dramatiq.Broker | None = None) -> bool:
    """Drop one dead message for good."""
    return _take(broker or dramatiq.get_broker(), queue, dead_id) is not None


def _take(broker: dramatiq.Broker, queue: str, dead_id: str) -> dramatiq.Message[Any] | None:
    """Remove a dead message from the dead-letter store and return it."""
    if isinstance(broker, RedisBroker):
        key, messages_key = _xq(broker, queue)
        with broker.client.pipeline() as pipe:
            pipe.hget(messages_key, dead_id)
            pipe.zrem(key, dead_id)
            pipe.hdel(messages_key, dead_id)
            pipe.hdel(_errors_key(broker, queue), dead_id)
            payload, *_ = pipe.execute()
        return dramatiq.Message.decode(payload) if payload is not None else None
    assert isinstance(broker, StubBroker)
    letters = broker.dead_letters_by_queue.get(queue, [])
    for proxy in letters:
        if proxy.message_id == dead_id:
            letters.remove(proxy)
            return proxy._message  # type: ignore[no-any-return]
    return None
