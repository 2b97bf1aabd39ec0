"""An agent takes an inbox item before answering it, so two agents never answer the same one.

Taking is one ``INSERT … ON CONFLICT DO NOTHING`` on ``inbox_claim`` (keyed by the case):
of two agents racing, PostgreSQL lets exactly one insert win and the other sees the winner.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.db import dialect_of, insert_or_ignore
from pipeline.errors import InvalidState, NotFound
from pipeline.models import Case, InboxClaim
from pipeline.privacy import audit


def owner_of(session: Session, case_id: int) -> str | None:
    return session.scalar(select(InboxClaim.agent).where(InboxClaim.case_id == case_id))


def take(session: Session, case_id: int, agent: str, now: datetime) -> str:
    """Claim the item for ``agent`` unless someone holds it; returns who holds it now."""
    if session.get(Case, case_id) is None:
        raise NotFound(f"no case {case_id}")
    statement = (
        insert_or_ignore(InboxClaim, dialect_of(session), ["case_id"])
        .values(case_id=case_id, agent=agent, taken_at=now)
        .returning(InboxClaim.case_id)
    )
    if session.execute(statement).first() is not None:
        audit.record(session, actor=agent, action="inbox.take", entity=f"case:{case_id}", data={})
        return agent
    return owner_of(session, case_id) or agent


def require_owner(session: Session, case_id: int, agent: str, now: datetime) -> None:
    """Take the item, or raise InvalidState naming the agent who has it."""
    holder = take(session, case_id, agent, now)
    if holder != agent:
        raise InvalidState(f"case {case_id} is taken by {holder}")


def release(session: Session, case_id: int, agent: str) -> bool:
    """Give the item back (only its holder can); True if a claim was removed."""
    removed = session.execute(
        delete(InboxClaim).where(InboxClaim.case_id == case_id, InboxClaim.agent == agent)
    ).rowcount  # type: ignore[attr-defined]
    if removed:
        audit.record(
            session, actor=agent, action="inbox.release", entity=f"case:{case_id}", data={}
        )
    return bool(removed)
