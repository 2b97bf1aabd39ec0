"""Store raw inbound events, deduplicated by the provider's id.

One statement per batch: ``INSERT ... ON CONFLICT (provider_event_id) DO NOTHING
RETURNING id, provider_event_id``. The returned rows are exactly the ones that are new, so a
retried or duplicated webhook inserts nothing, and its caller enqueues nothing: messages
leave only after the statement has committed (``actors.response.enqueue_processing``), so a
worker never looks for a row that is not there yet. The web's ingest (``web.ingest``) and the
durable buffer's drain (``actors.inbound_buffer``) both store through ``store_events``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, Insert

from pipeline.clock import utcnow
from pipeline.db import insert_or_ignore
from pipeline.models import InboundEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewEvent:
    provider: str
    kind: str
    provider_event_id: str
    payload: dict[str, Any]
    # Set for events that need no processing (a "repeat the message" keypress): stored
    # so nothing is lost, but never enqueued.
    outcome: str | None = None
    received_at: datetime = field(default_factory=utcnow)


@lru_cache(maxsize=4)
def _insert_statement(dialect: str) -> Insert:
    # Built once per dialect so SQLAlchemy compiles it once: the per-request cost is then
    # binding parameters, which matters at hundreds of webhooks per second.
    statement: Insert = insert_or_ignore(
        InboundEvent, dialect, [InboundEvent.provider_event_id]
    ).returning(InboundEvent.id, InboundEvent.provider_event_id, InboundEvent.outcome)
    return statement


def _row(event: NewEvent) -> dict[str, Any]:
    done = event.outcome is not None
    return {
        "provider": event.provider,
        "kind": event.kind,
        "provider_event_id": event.provider_event_id,
        "payload": event.payload,
        "received_at": event.received_at,
        "handled_at": event.received_at if done else None,
        "outcome": event.outcome,
    }


def store_events(engine: Engine, events: list[NewEvent]) -> dict[str, int]:
    """Insert the events in one statement and commit.

    Returns the new rows that need processing, provider event id → row id. An id given
    twice is stored once, from its first event.
    """
    unique: dict[str, NewEvent] = {}
    for event in events:
        unique.setdefault(event.provider_event_id, event)
    if not unique:
        return {}
    statement = _insert_statement(engine.dialect.name)
    rows_in = [_row(e) for e in unique.values()]
    # A single row binds plainly; several go as one multi-row INSERT ("insertmanyvalues",
    # split only past 1,000 rows). On the web's autocommit engine (web.deps) that is one
    # round trip and commit() is a no-op; on SQLite it commits the transaction.
    with engine.connect() as conn:
        rows = conn.execute(statement, rows_in[0] if len(rows_in) == 1 else rows_in).all()
        conn.commit()
    duplicates = len(unique) - len(rows)
    if duplicates:
        log.info("inbound_event.duplicate", extra={"count": duplicates})
    return {row.provider_event_id: row.id for row in rows if row.outcome is None}
