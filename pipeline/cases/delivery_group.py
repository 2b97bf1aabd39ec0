"""Sending several claimed attempts in turn, with one transaction per send instead of two.

``pipeline.cases.delivery`` sends one attempt with a transaction before the provider call
(claimed → sending) and one after (the outcome). A group sends attempt after attempt and
folds the two together: the transaction that records attempt k's outcome also takes attempt
k + 1 (claimed → sending), and commits before attempt k + 1's call. So the at-most-once
protocol is unchanged — every attempt is "sending", committed, before its provider call, and
a worker that dies mid-group leaves at most the attempt of the call it was in "sending" (the
stale-sending rule) and the rest claimed, for the redelivered group to send.

If that shared transaction fails (two cases' locks in an order some other transaction
deadlocked with), the outcome is recorded alone and the next attempt taken alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pipeline.cases.delivery import (
    Called,
    SendOutcome,
    Taken,
    begin_send,
    call_for,
    record_called,
)
from pipeline.channel_port import Channel
from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.inbound.reply_codes import note_code_needed
from pipeline.settings import Settings


class GroupSender:
    """Sends attempts one by one, each at most once; ``finish`` records the last call.

    After ``finish``: ``outcomes`` holds each attempt's committed outcome, ``transient`` the
    attempts a transient failure put back to claimed (for the caller to retry later), and
    ``sent_units`` the billed units of each send recorded as sent."""

    def __init__(
        self,
        channel_for: Callable[[str], Channel],
        settings: Settings,
        *,
        engine: Engine | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.outcomes: dict[int, SendOutcome] = {}
        self.transient: list[int] = []
        self.sent_units: list[float] = []
        self._channel_for = channel_for
        self._settings = settings
        self._engine = engine
        self._clock = clock
        self._called: Called | None = None  # the last call, not recorded yet

    def send(self, attempt_id: int) -> None:
        """Record the previous call and take this attempt in one transaction, then call."""
        taken = self._take(attempt_id)
        if isinstance(taken, SendOutcome):
            self.outcomes[attempt_id] = taken
            return
        self._called = call_for(taken, self._channel_for, self._settings)

    def finish(self) -> None:
        """Record the last call (if any) in a transaction of its own."""
        called, self._called = self._called, None
        if called is None:
            return
        with session_scope(self._engine) as session:
            outcome = record_called(session, called, self._clock(), self._settings)
        self._settle(called, outcome)

    def _take(self, attempt_id: int) -> Taken | SendOutcome:
        called = self._called
        if called is None:
            return self._begin_alone(attempt_id)
        try:
            with session_scope(self._engine) as session:
                outcome = record_called(session, called, self._clock(), self._settings)
                taken = self._begin(session, attempt_id)
        except DBAPIError:
            self.finish()  # the outcome first, alone: it must not be lost with the take
            return self._begin_alone(attempt_id)
        self._called = None
        self._settle(called, outcome)
        return taken

    def _begin_alone(self, attempt_id: int) -> Taken | SendOutcome:
        with session_scope(self._engine) as session:
            return self._begin(session, attempt_id)

    def _begin(self, session: Session, attempt_id: int) -> Taken | SendOutcome:
        taken = begin_send(session, attempt_id, self._clock(), self._settings)
        if not isinstance(taken, SendOutcome):
            # Whether the notice must carry a reply code is read here, in the session.
            note_code_needed(session, taken.case)
        return taken

    def _settle(self, called: Called, outcome: SendOutcome | None) -> None:
        """Note a committed outcome."""
        if outcome is None:
            self.transient.append(called.attempt_id)
            return
        self.outcomes[called.attempt_id] = outcome
        if outcome is SendOutcome.SENT and called.result is not None:
            self.sent_units.append(called.result.cost_units)
