"""Real rows for the inbound tests: campaigns, recipients, cases, attempts, stored webhooks."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy.orm import Session

from pipeline.cases.policy import Step, freeze_policy
from pipeline.clock import utcnow
from pipeline.models import Attempt, Campaign, Case, InboundEvent, Recipient

_ids = count(1)
LADDER = [Step("sms", timedelta(hours=24)), Step("email", timedelta(hours=48))]


def campaign(session: Session, *, completion: str = "on_agree", **spec: Any) -> Campaign:
    row = Campaign(
        name=f"Recall {next(_ids)}",
        reason="product_quality",
        description="Battery may overheat",
        remedy="Return the charger",
        help_text="Call 400-000-0000",
        spec=spec,
        policy=freeze_policy(LADDER, {1: [*LADDER, Step("voice", timedelta(hours=4))]}),
        completion=completion,
        deadline=utcnow() + timedelta(days=30),
        state="running",
    )
    session.add(row)
    session.flush()
    return row


def recipient(session: Session, *, phone: str | None = None, **fields: Any) -> Recipient:
    n = next(_ids)
    row = Recipient(
        external_id=fields.pop("external_id", f"user-{n}"),
        name=fields.pop("name", f"User {n}"),
        phone=phone if phone is not None else f"+1415555{n:04d}",
        email=fields.pop("email", f"user{n}@example.com"),
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def case(
    session: Session,
    camp: Campaign,
    person: Recipient,
    *,
    state: str = "awaiting_response",
    step: int = 0,
    notified_at: datetime | None = None,
) -> Case:
    row = Case(
        campaign_id=camp.id,
        recipient_id=person.id,
        state=state,
        step=step,
        next_due_at=utcnow() + timedelta(hours=24),
        last_notified_at=notified_at or utcnow(),
        first_notified_at=notified_at or utcnow(),
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return row


def attempt(
    session: Session, row: Case, *, channel: str = "sms", step: int = 0, status: str = "sent"
) -> Attempt:
    prefix = {"sms": "SM", "voice": "CA", "email": "msg"}[channel]
    sent = Attempt(
        case_id=row.id,
        channel=channel,
        step=step,
        status=status,
        provider_id=f"{prefix}{next(_ids):032d}",
    )
    session.add(sent)
    session.flush()
    return sent


def inbound(session: Session, provider: str, kind: str, payload: dict[str, Any]) -> InboundEvent:
    row = InboundEvent(
        provider=provider,
        kind=kind,
        provider_event_id=f"{provider}-{kind}-{next(_ids)}",
        payload=payload,
    )
    session.add(row)
    session.flush()
    return row


def sms(session: Session, sender: str, body: str) -> InboundEvent:
    return inbound(
        session,
        "twilio",
        "sms",
        {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": f"SM{next(_ids)}"},
    )
