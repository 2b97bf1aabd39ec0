"""Erasing one recipient's personal data on request, irrecoverably, keeping the counts.

What goes: the name, phone, email and external id on the recipient row; the raw text and
sender of every response from them (matched to their cases, or unmatched but sent from their
phone or email); the raw payload of every stored webhook about them (matched to their
cases, or linked to those responses: found through indexes, not by reading payloads);
provider error texts on their attempts and follow-ups, which can quote an address; agents'
replies to them; the words of their refusal reasons and demands, and answers held from
their phone until they named a recall.

What stays, so metrics and reports stay right: the recipient row itself (anonymous, with an
``erased-<id>`` external id and every channel suppressed), their cases with states and
timestamps, their responses' kinds and channels, their attempts' statuses and costs, and the
audit log — which never held the data, and records the erasure with counts only. Each
erasure is also an ``erasure_request`` row (asked, done), which the report lists.

``purge_residue`` then removes the old row versions from the database files (SQLite
``secure_delete`` + WAL checkpoint; PostgreSQL ``VACUUM``). Backups and PostgreSQL WAL
archives age out under their own retention policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, or_, select, text, update
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.db import lock_rows
from pipeline.errors import NotFound
from pipeline.models import (
    Attempt,
    Base,
    Case,
    ErasureRequest,
    InboundEvent,
    PendingReply,
    Recipient,
    Response,
)
from pipeline.privacy import audit

# Attempt history keys that carry only statuses and codes, never an address.
_SAFE_HISTORY_KEYS = ("status", "at", "code", "raw")
# Other tables keyed by case whose free text may quote a person (an agent's reply, a
# provider's error on a follow-up). Looked up by name: a table not in this build is skipped.
CASE_TEXT_COLUMNS = {
    "followup_send": ("error_reason",),
    "agent_reply": ("text",),
    "refusal_demand": ("text",),
}
_PURGED_TABLES = (
    "recipient", "response", "inbound_event", "attempt", *CASE_TEXT_COLUMNS,
    "recall_case", "pending_reply",
)  # fmt: skip


class RecipientNotFound(NotFound):
    """No recipient has that external id (or it was erased already)."""


@dataclass(frozen=True)
class ErasureSummary:
    recipient_id: int
    cases: int
    responses: int
    inbound_events: int
    attempts: int


def erase_recipient(
    session: Session,
    external_id: str,
    *,
    actor: str,
    now: datetime | None = None,
    asked_at: datetime | None = None,
) -> ErasureSummary:
    """Remove ``external_id``'s personal data in the caller's transaction, and record the
    request as done now (asked at ``asked_at``, when the person asked; default now)."""
    if session.get_bind().dialect.name == "sqlite":
        # Overwrite freed space with zeros, so old row versions are not left in the file.
        session.execute(text("PRAGMA secure_delete = ON"))
    person = session.scalars(
        lock_rows(session, select(Recipient).where(Recipient.external_id == external_id))
    ).one_or_none()
    if person is None:
        raise RecipientNotFound(external_id)
    contacts = [value for value in (person.phone, person.email) if value]
    case_ids = list(session.scalars(select(Case.id).where(Case.recipient_id == person.id)))
    responses = _scrub_responses(session, case_ids, contacts)
    events = _scrub_inbound_events(session, responses, case_ids)
    attempts = _scrub_attempts(session, case_ids)
    _scrub_case_texts(session, case_ids)
    _scrub_refusals_and_held(session, case_ids, person.phone)
    done = now or utcnow()
    _anonymise(person, done)
    session.add(
        ErasureRequest(recipient_id=person.id, asked_at=asked_at or done, done_at=done, actor=actor)
    )
    summary = ErasureSummary(person.id, len(case_ids), len(responses), events, attempts)
    audit.record(
        session,
        actor=actor,
        action="recipient.erase",
        entity=f"recipient:{person.id}",
        data={k: v for k, v in summary.__dict__.items() if k != "recipient_id"},
    )
    return summary


def _anonymise(person: Recipient, now: datetime) -> None:
    person.external_id = f"erased-{person.id}"
    person.name, person.phone, person.email = "", None, None
    # Nobody can be reached without contact data; the flags say so to every sender too.
    person.sms_opted_out = person.email_opted_out = person.voice_opted_out = True
    person.erased_at = now


def _scrub_responses(
    session: Session, case_ids: Sequence[int], contacts: Sequence[str]
) -> list[Response]:
    conditions: list[Any] = [Response.case_id.in_(case_ids)] if case_ids else []
    if contacts:
        conditions.append(Response.sender.in_(contacts))
    if not conditions:
        return []
    found = list(session.scalars(select(Response).where(or_(*conditions))))
    for response in found:
        response.raw_text, response.sender = "", None
    return found


def _scrub_inbound_events(
    session: Session, responses: Sequence[Response], case_ids: Sequence[int]
) -> int:
    # Through indexes only: the case each event was matched to (InboundEvent.case_id, set at
    # matching time) and the events behind the person's responses (matched or sent from
    # their phone or email). Never a scan of every payload's text.
    linked = {r.inbound_event_id for r in responses if r.inbound_event_id is not None}
    conditions: list[Any] = [InboundEvent.case_id.in_(case_ids)] if case_ids else []
    if linked:
        conditions.append(InboundEvent.id.in_(linked))
    if not conditions:
        return 0
    found = list(session.scalars(select(InboundEvent).where(or_(*conditions))))
    for event in found:
        event.payload = {"erased": True}
    return len(found)


def _scrub_attempts(session: Session, case_ids: Sequence[int]) -> int:
    if not case_ids:
        return 0
    found = list(session.scalars(select(Attempt).where(Attempt.case_id.in_(case_ids))))
    for attempt in found:
        attempt.error_reason = None
        attempt.status_history = [
            {k: entry[k] for k in _SAFE_HISTORY_KEYS if k in entry}
            for entry in attempt.status_history or []
            if isinstance(entry, dict)
        ]
    return len(found)


def _scrub_case_texts(session: Session, case_ids: Sequence[int]) -> None:
    if not case_ids:
        return
    for name, columns in CASE_TEXT_COLUMNS.items():
        table = Base.metadata.tables.get(name)
        if table is None:
            continue
        blank = {c: (None if table.c[c].nullable else "") for c in columns}
        session.execute(update(table).where(table.c.case_id.in_(case_ids)).values(blank))


def _scrub_refusals_and_held(session: Session, case_ids: Sequence[int], phone: str | None) -> None:
    """The words of a refusal's reason (the reason's code stays, a count); answers held
    from their phone until they named a recall (pipeline.inbound.reply_codes) go whole."""
    if case_ids:
        session.execute(update(Case).where(Case.id.in_(case_ids)).values(refusal_text=None))
    if phone:
        session.execute(delete(PendingReply).where(PendingReply.phone == phone))


def purge_residue(engine: Engine) -> None:
    """After the erasure committed: drop old row versions from the database files."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in _PURGED_TABLES:
            if table in Base.metadata.tables:
                conn.execute(text(f"VACUUM {table}"))
