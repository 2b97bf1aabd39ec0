"""Confirming a case's remedy: the one rule every way in (import, API, dashboard) follows.

- An ``agreed`` case becomes ``completed`` (``REMEDY_CONFIRMED`` through the state machine).
- A case that never agreed (no answer yet, refused, a question open, unreachable, opted
  out) completes too, and its confirmation row says ``without_agreement``: the status
  counts those apart, since nobody asked them and they said yes.
- A case completed by agreeing on an ``on_agree`` campaign keeps its state; the
  confirmation is recorded all the same, so the funnel shows the remedy was done.
- A second confirmation for the same case is a no-op (one row per case, unique).
- A cancelled case is out of scope: its confirmation is refused (an item error).

Every confirmation is audited: the state change by ``apply_event``, the confirmation
itself as ``remedy.confirmed`` with its source and who sent it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.events import apply_event
from pipeline.cases.states import CaseEvent, CaseState
from pipeline.db import dialect_of, insert_or_ignore, lock_rows, take_write_turn
from pipeline.errors import InputError, NotFound
from pipeline.models import Campaign, Case, Recipient, RemedyConfirmation
from pipeline.privacy import audit

MAX_NOTE = 1000
# external ids resolved per query: well under any database's bound-parameter limit.
LOOKUP_CHUNK = 1000


class Outcome(StrEnum):
    COMPLETED = "completed"
    COMPLETED_WITHOUT_AGREEMENT = "completed_without_agreement"
    RECORDED = "recorded"  # already completed by agreeing: only the confirmation is new
    ALREADY_CONFIRMED = "already_confirmed"


@dataclass(frozen=True)
class Confirmation:
    """One confirmation as given: ``line`` is its place in the input (file line, list
    index) for error messages."""

    external_id: str
    completed_at: datetime
    note: str = ""
    line: int | None = None


@dataclass
class ConfirmReport:
    """What a batch of confirmations did: counts per outcome, and the items refused."""

    outcomes: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    errors: list[InputError] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        self.outcomes[outcome.value] += 1


def campaign_of(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return campaign


def resolve_cases(
    session: Session, campaign_id: int, external_ids: Iterable[str]
) -> dict[str, int]:
    """``{external_id: case id}`` for the ids that have a case in the campaign."""
    ids = list(dict.fromkeys(external_ids))
    found: dict[str, int] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        rows = session.execute(
            select(Recipient.external_id, Case.id, Case.state)
            .join(Case, Case.recipient_id == Recipient.id)
            .where(Case.campaign_id == campaign_id, Recipient.external_id.in_(chunk))
        )
        found.update({external_id: case_id for external_id, case_id, _ in rows})
    return found


def item_problems(
    session: Session, campaign_id: int, items: Sequence[Confirmation], *, path: str | None
) -> tuple[dict[str, int], list[InputError]]:
    """The case of every item, and the items that cannot apply (no such case in the
    campaign, or a cancelled case), each a located error on its ``external_id``."""
    cases = resolve_cases(session, campaign_id, (item.external_id for item in items))
    cancelled = _cancelled(session, list(cases.values()))
    errors = []
    for item in items:
        case_id = cases.get(item.external_id)
        reason = None
        if case_id is None:
            reason = f"no case for {item.external_id!r} in campaign {campaign_id}"
        elif case_id in cancelled:
            reason = f"the case of {item.external_id!r} is cancelled (out of the recall's scope)"
        if reason:
            errors.append(InputError(reason, path=path, line=item.line, field="external_id"))
    return cases, errors


def _cancelled(session: Session, case_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(case_ids), LOOKUP_CHUNK):
        chunk = case_ids[start : start + LOOKUP_CHUNK]
        found.update(
            session.scalars(
                select(Case.id).where(Case.id.in_(chunk), Case.state == CaseState.CANCELLED.value)
            )
        )
    return found


def confirm_all(
    session: Session,
    campaign_id: int,
    items: Sequence[Confirmation],
    cases: dict[str, int],
    *,
    source: str,
    actor: str,
    now: datetime,
) -> ConfirmReport:
    """Apply every item whose case is in ``cases`` (checked with ``item_problems`` first),
    in the caller's transaction, and audit the batch once besides each case."""
    report = ConfirmReport()
    for item in items:
        case_id = cases.get(item.external_id)
        if case_id is not None:
            report.count(confirm_case(session, case_id, item, source=source, actor=actor, now=now))
    audit.record(
        session,
        actor=actor,
        action="remedy.batch",
        entity=f"campaign:{campaign_id}",
        data={"source": source, "items": len(items), "outcomes": report.outcomes},
    )
    return report


def confirm_case(
    session: Session,
    case_id: int,
    item: Confirmation,
    *,
    source: str,
    actor: str,
    now: datetime,
) -> Outcome:
    """Confirm one case's remedy (see the module docstring); the case row is locked so two
    confirmations of one case take turns and the second finds the first's row."""
    case = _lock(session, case_id)
    if case.state == CaseState.CANCELLED.value:
        raise InputError(f"case {case_id} is cancelled", field="external_id")
    exists = session.scalar(
        select(RemedyConfirmation.id).where(RemedyConfirmation.case_id == case_id)
    )
    if exists is not None:
        return Outcome.ALREADY_CONFIRMED
    agreed = case.state == CaseState.AGREED.value or case.last_response == "agree"
    outcome = _complete(session, case, agreed, item, source=source, actor=actor, now=now)
    session.execute(
        insert_or_ignore(RemedyConfirmation, dialect_of(session), ["case_id"]).values(
            case_id=case.id,
            campaign_id=case.campaign_id,
            completed_at=item.completed_at,
            note=item.note[:MAX_NOTE],
            source=source,
            actor=actor[:128],
            without_agreement=not agreed,
            recorded_at=now,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="remedy.confirmed",
        entity=f"case:{case.id}",
        data={
            "case_id": case.id,
            "campaign_id": case.campaign_id,
            "source": source,
            "outcome": outcome.value,
            "completed_at": item.completed_at.isoformat(),
        },
    )
    return outcome


def _complete(
    session: Session,
    case: Case,
    agreed: bool,
    item: Confirmation,
    *,
    source: str,
    actor: str,
    now: datetime,
) -> Outcome:
    if case.state == CaseState.COMPLETED.value:
        return Outcome.RECORDED
    apply_event(
        session,
        case,
        CaseEvent.REMEDY_CONFIRMED,
        now=now,
        actor=actor,
        detail={"source": source, "without_agreement": not agreed},
    )
    return Outcome.COMPLETED if agreed else Outcome.COMPLETED_WITHOUT_AGREEMENT


def _lock(session: Session, case_id: int) -> Case:
    take_write_turn(session)
    query = select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
    case = session.scalars(lock_rows(session, query, of=Case)).unique().one_or_none()
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    return case
