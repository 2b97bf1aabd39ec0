"""Reading a stored webhook's payload safely: whatever a provider sent, these never raise
anything but ``MalformedEvent``, and what they return fits our columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.events import FollowUp
from pipeline.db import lock_rows, take_write_turn
from pipeline.errors import MalformedEvent
from pipeline.models import Case

# What a handler reports: the event's outcome and the follow-ups to send after commit.
HandlerResult = tuple[str, list[FollowUp]]


def payload_text(value: Any, limit: int | None = None) -> str:
    """A payload value as storable text: PostgreSQL rejects NUL, and columns have lengths."""
    text = ("" if value is None else str(value)).replace("\x00", "")
    return text[:limit] if limit else text


def required_field(payload: Mapping[str, Any], name: str) -> str:
    """``payload[name]`` as text; missing or empty is malformed."""
    value = payload.get(name)
    if value is None or value == "":
        raise MalformedEvent(f"{name} missing")
    return payload_text(value)


def parse_case_id(value: Any) -> int:
    """A case (or attempt) id from a payload: a positive integer that fits a BIGINT."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise MalformedEvent("case_id is not a number") from None
    if not 0 < number < 2**63:  # beyond any id; PostgreSQL would reject it as a parameter
        raise MalformedEvent("case_id is out of range")
    return number


def lock_case(session: Session, case_id: int | None) -> Case | None:
    """The case, freshly loaded and locked (its row on PostgreSQL, the write turn on SQLite),
    so events for one case take turns."""
    if case_id is None:
        return None
    take_write_turn(session)
    query = select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
    stmt = lock_rows(session, query, of=Case)
    return session.scalars(stmt).unique().one_or_none()
