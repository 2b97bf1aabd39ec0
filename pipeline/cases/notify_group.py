"""Notifying a group of cases in one transaction: ``case.notify_group``'s work.

Why groups: a fan-out or a sweep hands on cases by the thousand, and one message, one
transaction and one commit per case made the per-message and per-commit overhead a large
part of each case's CPU. A group does the same ``notify_locked_case`` for each of its cases,
commits once, and its caller enqueues every send after that commit in one round trip.

The rules of ``pipeline.cases.notify`` hold for each case; what a group adds:

- Locks. The group locks its cases in one statement, in id order, ``SKIP LOCKED``: it never
  waits for a case row, so two groups cannot deadlock on each other, nor a group with a
  single transaction (those lock a case, then an audit chain). A case another transaction
  holds is handed back ("retry") for a single ``case.notify`` after the commit; that one
  waits for the lock as usual.
- One case's failure stays its own. Each case runs in a SAVEPOINT; one that raises is
  rolled back alone (the others commit) and handed back for a single ``case.notify``, which
  Dramatiq retries on its own. An error that outlives the savepoint (a lost connection)
  fails the whole group, which is retried whole: each case is idempotent.
- Nothing is lost with a worker that dies mid-group: nothing was committed, the message is
  redelivered. A group redelivered after its commit finds its cases leased (not due) and
  sends nothing; a send lost that way is the claimed step's lease, as for a single case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.notify import NotifyResult, notify_locked_case
from pipeline.db import lock_rows, take_write_turn
from pipeline.models import Case
from pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupResult:
    """Each handled case's result, and the cases to hand back for a single ``case.notify``
    (locked by another transaction, missing, or failed in their savepoint)."""

    results: dict[int, NotifyResult]
    retry: list[int]


def lock_free_cases(session: Session, case_ids: list[int]) -> list[Case]:
    """The cases of ``case_ids`` no other transaction holds, locked, in id order; their
    campaign and recipient come in the same statement (one campaign object per group)."""
    take_write_turn(session)  # SQLite: the writer's turn, and a BEGIN before any SAVEPOINT
    query = select(Case).where(Case.id.in_(case_ids)).order_by(Case.id)
    query = lock_rows(session, query, of=Case, skip_locked=True)
    return list(session.scalars(query).unique())


def notify_group(
    session: Session, case_ids: Iterable[int], now: datetime, settings: Settings
) -> GroupResult:
    """Do whatever is due for each case, in one transaction the caller commits."""
    wanted = sorted(set(case_ids))
    cases = lock_free_cases(session, wanted)
    locked = {case.id for case in cases}
    results: dict[int, NotifyResult] = {}
    retry = [case_id for case_id in wanted if case_id not in locked]
    for case in cases:
        case_id = case.id  # read before a rollback expires the object
        try:
            with session.begin_nested():
                results[case_id] = notify_locked_case(session, case, now, settings)
        except Exception:
            log.exception("case.group_item_failed case=%s", case_id)
            retry.append(case_id)
    return GroupResult(results, sorted(retry))
