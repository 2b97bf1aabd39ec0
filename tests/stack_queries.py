"""What happened in a running stack, read back from its database and its sandbox: shared by
the integration stack (``tests/integration/pipeline_stack.py``) and the fault drills'
(``tests/faults/stack.py``), so both count cases, attempts and texts the same way."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from channels.sandbox.runner import SandboxThread
from pipeline.models import Attempt, Case


class StackQueries:
    """Mixed into a stack that has an ``engine`` and a ``sandbox``."""

    engine: Engine
    sandbox: SandboxThread | None

    def case_states(self, campaign_id: int) -> Counter[str]:
        with Session(self.engine) as session:
            rows = session.execute(
                select(Case.state, func.count())
                .where(Case.campaign_id == campaign_id)
                .group_by(Case.state)
            )
            return Counter({state: count for state, count in rows})

    def attempts_per_step(self, campaign_id: int) -> Counter[tuple[int, int]]:
        """Attempts per (case, step): more than one for a key would be a double send."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(Attempt.case_id, Attempt.step, func.count())
                .join(Case, Case.id == Attempt.case_id)
                .where(Case.campaign_id == campaign_id)
                .group_by(Attempt.case_id, Attempt.step)
            )
            return Counter({(case_id, step): count for case_id, step, count in rows})

    def attempt_statuses(self, campaign_id: int) -> Counter[str]:
        with Session(self.engine) as session:
            rows = session.execute(
                select(Attempt.status, func.count())
                .join(Case, Case.id == Attempt.case_id)
                .where(Case.campaign_id == campaign_id)
                .group_by(Attempt.status)
            )
            return Counter({status: count for status, count in rows})

    def sandbox_messages(self, channel: str = "sms") -> list[dict[str, Any]]:
        assert self.sandbox is not None
        found: list[dict[str, Any]] = httpx.get(
            f"{self.sandbox.url}/_sandbox/messages", params={"channel": channel}, timeout=30
        ).json()
        return found


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Polls ``condition``; returns the seconds it took, or fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.25)
    return time.monotonic() - started
