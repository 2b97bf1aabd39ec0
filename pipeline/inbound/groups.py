"""Handling a group of stored inbound events in one transaction.

Webhooks arrive in streams (every notice's status callbacks, then the replies), and one
transaction and one broker message per event cost more than the work itself. A group is
handled in its caller's transaction: each event inside a SAVEPOINT, so an event that raises
— bad data, a status that is early (``NotMatchedYet``), a PostgreSQL deadlock with another
group — is rolled back alone (with the locks it took) and handed back to the caller, never
taking the rest of the group with it. The follow-ups of every handled event are staged in
the same transaction (the outbox, ``pipeline.followups.outbox``), so the caller enqueues
them, and the failed events singly, after the one commit.

Events are handled in ascending id order, the order they were stored in. Their cases are
unknown until each is matched, so two groups can still lock two cases in opposite orders;
PostgreSQL then aborts one of them, which fails only that event's savepoint: a retry, never
a loss. The audit chain is taken at the group's first record and kept until the commit
(``pipeline.privacy.audit``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.followups.outbox import StagedFollowUp, stage_followups
from pipeline.inbound.answers import process_inbound_event

log = logging.getLogger(__name__)


@dataclass
class GroupOutcome:
    """What the caller does after the commit: enqueue ``staged``, hand ``failed`` on singly."""

    staged: list[StagedFollowUp] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def process_inbound_group(session: Session, event_ids: list[int]) -> GroupOutcome:
    """Handle each event of the group in a savepoint of the caller's transaction."""
    outcome = GroupOutcome()
    for event_id in sorted(set(event_ids)):
        try:
            with session.begin_nested():
                follow_ups = process_inbound_event(session, event_id)
                staged = stage_followups(session, event_id, follow_ups, utcnow())
        except Exception as error:  # rolled back to the savepoint: the others stand
            if isinstance(error, DBAPIError) and error.connection_invalidated:
                raise  # nothing more can be written: the whole group is retried
            log.warning(
                "inbound.group_item_failed",
                extra={"inbound_event_id": event_id, "error": type(error).__name__},
            )
            outcome.failed.append(event_id)
            continue
        outcome.staged.extend(staged)
    return outcome
