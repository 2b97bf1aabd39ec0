"""The durable buffer for webhooks that arrive while the database is away.

A provider that gets a 5xx may never call again (Twilio retries only when the URL's
connection overrides ask it to, and SendGrid gives up after a while), so a genuine event is
never answered with "try later" just because PostgreSQL is restarting. Instead the web app,
having checked the signature, appends the event to a Redis stream
(``<namespace>:inbound:buffer``) and answers as usual. The scheduler's ``drain`` job stores
what the stream holds once the database is back — ``INSERT … ON CONFLICT DO NOTHING`` on the
provider's id, so an event buffered twice, or drained twice after a crash between the insert
and the stream delete, is still stored once — enqueues the new rows, then deletes the
entries. Redis itself must keep the stream: production runs it with append-only
persistence (``docker-compose.yml``); a wipe of both at once is the one case it cannot cover.

It lives with the broker's other Redis code, not in ``web/``: the web appends, the scheduler
drains, and the scheduler imports nothing of the web.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from actors.response import enqueue_processing
from pipeline.inbound.event_store import NewEvent, store_events

log = logging.getLogger(__name__)

FIELD = "event"
# Entries stored per drain round trip; the drain runs again at once while it finds a full one.
DRAIN_BATCH = 500


def database_unavailable(error: BaseException) -> bool:
    """True for an error that says the database cannot be reached (not a refused value)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def encode(event: NewEvent) -> str:
    return json.dumps(
        {
            "provider": event.provider,
            "kind": event.kind,
            "provider_event_id": event.provider_event_id,
            "payload": event.payload,
            "outcome": event.outcome,
            "received_at": event.received_at.isoformat(),
        }
    )


def decode(raw: bytes | str) -> NewEvent:
    data: dict[str, Any] = json.loads(raw)
    return NewEvent(
        data["provider"],
        data["kind"],
        data["provider_event_id"],
        data["payload"],
        outcome=data["outcome"],
        received_at=datetime.fromisoformat(data["received_at"]),
    )


@dataclass
class EventBuffer:
    """A Redis stream of events waiting for the database."""

    client: redis.Redis
    key: str

    @classmethod
    def for_broker(cls, broker_url: str, namespace: str) -> EventBuffer:
        client = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)
        return cls(client, f"{namespace}:inbound:buffer")

    def append(self, events: list[NewEvent]) -> None:
        """Keep ``events`` (one pipelined round trip); raises if Redis did not take them."""
        pipe = self.client.pipeline(transaction=False)
        for event in events:
            pipe.xadd(self.key, {FIELD: encode(event)})
        pipe.execute()

    def read(self, limit: int) -> list[tuple[Any, NewEvent]]:
        entries: Any = self.client.xrange(self.key, count=limit) or []
        return [(entry_id, decode(_field(fields))) for entry_id, fields in entries]

    def delete(self, entry_ids: list[Any]) -> None:
        if entry_ids:
            self.client.xdel(self.key, *entry_ids)

    def size(self) -> int:
        return int(self.client.xlen(self.key))


def _field(fields: dict[Any, Any]) -> Any:
    return fields.get(FIELD.encode(), fields.get(FIELD))


def drain(buffer: EventBuffer, engine: Engine, limit: int = DRAIN_BATCH) -> int:
    """Store one batch of buffered events, enqueue the new ones, drop them from the stream.
    Returns how many entries were taken; raises (and keeps them) if the database is away."""
    entries = buffer.read(limit)
    if not entries:
        return 0
    new_rows = store_events(engine, [event for _, event in entries])
    try:
        enqueue_processing(list(new_rows.values()))
    except Exception:  # committed: the lost-webhook sweep hands them on later
        log.error("inbound_buffer.enqueue_failed", extra={"count": len(new_rows)}, exc_info=True)
    buffer.delete([entry_id for entry_id, _ in entries])
    log.info("inbound_buffer.drained", extra={"events": len(entries), "new": len(new_rows)})
    return len(entries)


def drain_all(buffer: EventBuffer, engine: Engine, max_batches: int = 20) -> int:
    """Drain batches until the stream is empty (or ``max_batches``, for the next tick)."""
    total = 0
    for _ in range(max_batches):
        taken = drain(buffer, engine)
        total += taken
        if taken < DRAIN_BATCH:
            break
    return total
