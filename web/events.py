"""Store raw inbound events, deduplicated by the provider's id, and hand new ones to workers.

One statement per batch: ``INSERT ... ON CONFLICT (provider_event_id) DO NOTHING
RETURNING id, provider_event_id``. The returned rows are exactly the ones that are new, so a
retried or duplicated webhook inserts nothing and enqueues nothing. Messages leave only after
the statement has committed, so a worker never looks for a row that is not there yet.
``web.ingest`` batches the events of concurrent requests through these two functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, Insert

from actors.batch import enqueue_many
from actors.response import process
from pipeline.clock import utcnow
from pipeline.db import insert_or_ignore
from pipeline.errors import MalformedEvent
from pipeline.models import InboundEvent

log = logging.getLogger(__name__)

# Provider ids (Twilio SIDs, statuses, digits, SendGrid event ids) are short printable
# ASCII. Anything else is a malformed request, and refusing it here keeps NUL bytes and
# megabyte "ids" away from a unique index.
_ID_PART = re.compile(r"[\x21-\x7e]{1,64}")


def id_part(value: object, name: str) -> str:
    """``value`` checked as one component of a provider event id."""
    if not isinstance(value, str) or not _ID_PART.fullmatch(value):
        raise MalformedEvent(f"{name} is missing or malformed")
    return value


# Text PostgreSQL cannot store: a NUL, or half of a UTF-16 surrogate pair (JSON allows
# "\udcff"; UTF-8 does not).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """``value`` with every unstorable character replaced by U+FFFD, keys included: an
    event that carried one is kept, with that character marked, instead of failing on
    every retry."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def content_id(prefix: str, payload: dict[str, Any]) -> str:
    """A stable id for an event that brought none: the same content gives the same id, so
    a retried batch still stores it once."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return f"{prefix}{hashlib.sha256(canonical.encode()).hexdigest()[:48]}"


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


def enqueue_processing(event_ids: list[int]) -> None:
    """Hand each stored event to ``response.process``, in one Redis pipeline. Call only
    after the commit."""
    if event_ids:
        enqueue_many(process, [(event_id,) for event_id in event_ids])
