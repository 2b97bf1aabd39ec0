"""The append-only, hash-chained audit log.

Each row's ``hash`` is sha256 over the canonical JSON of its content (time, actor, action,
entity, data) together with the previous row's hash, so changing a row, deleting one or
slipping one in breaks the chain from that row on, and ``verify`` names the first bad row.
(A deletion of the newest rows leaves a shorter valid chain; keep the head hash somewhere
else — the report prints it — to catch that too.)

The chain is only a chain if writers take turns: on PostgreSQL ``record`` takes a
transaction-scoped advisory lock before reading the head, held until the caller commits;
SQLite has one writer at a time, and ``record`` makes its transaction a writing one before
reading the head so a second writer waits instead of forking the chain.

Audit data must never hold a full phone number, email or message text: the log cannot be
edited, so it cannot be erased either. ``record`` masks any that slip in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session

from pipeline.clock import as_utc, utcnow
from pipeline.masking import mask_value
from pipeline.models import AuditEvent

GENESIS_HASH = "0" * 64
# Any fixed 64-bit number: the one lock every audit writer on a PostgreSQL database shares.
ADVISORY_LOCK_KEY = 0x72656361_6C6C0A01


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None
    head_hash: str = GENESIS_HASH


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(
    *, prev_hash: str, at: datetime, actor: str, action: str, entity: str, data: Mapping[str, Any]
) -> str:
    content = {
        "prev_hash": prev_hash,
        "at": as_utc(at).isoformat(),
        "actor": actor,
        "action": action,
        "entity": entity,
        "data": data,
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def _take_writer_turn(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(text(f"pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")))
    else:
        # A no-op write makes this a write transaction (SQLite's RESERVED lock) before the head
        # is read, so two writers cannot both read the same head.
        session.execute(text("UPDATE audit_event SET id = id WHERE 1 = 0"))


def _head_hash(session: Session) -> str:
    head = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return head or GENESIS_HASH


def record(
    session: Session, *, actor: str, action: str, entity: str, data: Mapping[str, Any]
) -> AuditEvent:
    """Append one event to the chain (flushed, committed by the caller)."""
    # Round-trip through JSON so what is stored is exactly what was hashed.
    safe = json.loads(canonical_json(mask_value("data", dict(data))))
    _take_writer_turn(session)
    prev_hash = _head_hash(session)
    # Microseconds only: PostgreSQL and SQLite both keep them, nothing finer.
    at = utcnow()
    digest = chain_hash(
        prev_hash=prev_hash, at=at, actor=actor, action=action, entity=entity, data=safe
    )
    event = AuditEvent(
        at=at, actor=actor, action=action, entity=entity, data=safe, prev_hash=prev_hash,
        hash=digest,
    )  # fmt: skip
    session.add(event)
    session.flush()
    return event


def record_access(
    session: Session, *, actor: str, entity: str, purpose: str, fields: list[str]
) -> AuditEvent:
    """Someone was shown personal data in full (``fields`` names which, never the values)."""
    data = {"purpose": purpose, "fields": sorted(fields)}
    return record(session, actor=actor, action="personal_data.view", entity=entity, data=data)


_COLUMNS = (
    AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.entity,
    AuditEvent.data, AuditEvent.prev_hash, AuditEvent.hash,
)  # fmt: skip


def _rows(session: Session, batch: int = 1000) -> Iterator[Row[Any]]:
    """Plain rows in id order, a batch at a time (no ORM objects: a million-row log must not
    fill the caller's session)."""
    last_id = 0
    while True:
        rows = session.execute(
            select(*_COLUMNS).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def _check(row: Row[Any], prev_hash: str) -> str | None:
    if row.prev_hash != prev_hash:
        return "prev_hash does not match the row before it (a row was deleted or inserted)"
    expected = chain_hash(
        prev_hash=row.prev_hash, at=row.at, actor=row.actor, action=row.action,
        entity=row.entity, data=row.data,
    )  # fmt: skip
    return None if expected == row.hash else "content does not match its hash (row was edited)"


def verify(session: Session) -> AuditReport:
    """Walk the whole chain in id order; report the first row that breaks it."""
    prev_hash, checked = GENESIS_HASH, 0
    for row in _rows(session):
        reason = _check(row, prev_hash)
        if reason is not None:
            return AuditReport(False, checked, row.id, reason, prev_hash)
        prev_hash, checked = row.hash, checked + 1
    return AuditReport(True, checked, head_hash=prev_hash)
