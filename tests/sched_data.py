"""Rows for the schedules tests: a campaign, recipients, cases and attempts, built directly
(the launch path has its own tests; these tests are about what happens to rows afterwards)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from pipeline.cases.policy import Step, freeze_policy
from pipeline.models import Attempt, Campaign, Case, Recipient

_ids = itertools.count(1)

THREE_STEPS = [
    Step("sms", timedelta(seconds=30)),
    Step("email", timedelta(seconds=30)),
    Step("voice", timedelta(seconds=30)),
]


def campaign(session: Session, **fields: Any) -> Campaign:
    values: dict[str, Any] = {
        "name": "Charger recall",
        "reason": "product_quality",
        "description": "Chargers may overheat.",
        "remedy": "Stop using it; we send a replacement.",
        "policy": freeze_policy(THREE_STEPS, {}),
        "quiet_hours": None,
        "deadline": datetime(2026, 7, 1, tzinfo=UTC),
        "state": "running",
        "spec": {},
    }
    values.update(fields)
    row = Campaign(**values)
    session.add(row)
    session.flush()
    return row


def recipient(session: Session, **fields: Any) -> Recipient:
    n = next(_ids)
    values: dict[str, Any] = {
        "external_id": f"u{n}",
        "name": f"User {n}",
        "phone": f"+1555{n:07d}",
        "email": f"user{n}@example.com",
        "timezone": "UTC",
    }
    values.update(fields)
    row = Recipient(**values)
    session.add(row)
    session.flush()
    return row


def case(
    session: Session, in_campaign: Campaign, who: Recipient | None = None, **fields: Any
) -> Case:
    row = Case(campaign_id=in_campaign.id, recipient_id=(who or recipient(session)).id, **fields)
    session.add(row)
    session.flush()
    return row


def attempt(session: Session, of: Case, channel: str, at: datetime, **fields: Any) -> Attempt:
    step = fields.pop("step", next(_ids))
    row = Attempt(case_id=of.id, channel=channel, step=step, claimed_at=at, **fields)
    session.add(row)
    session.flush()
    return row
