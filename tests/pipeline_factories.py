"""Rows for pipeline tests, and a recording channel (the fake at the provider edge)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from channels.base import Channel, ChannelKind, Outbound, SendResult
from pipeline.cases.policy import Step, freeze_policy
from pipeline.models import Campaign, Case, Recipient

NOW = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
LADDER = [
    Step("sms", timedelta(minutes=1)),
    Step("email", timedelta(minutes=1)),
    Step("voice", timedelta(minutes=1)),
]


def make_campaign(
    session: Session, *, state: str = "running", ladder: list[Step] | None = None, **fields: Any
) -> Campaign:
    campaign = Campaign(
        name="Battery recall",
        reason="product_quality",
        description="Battery may overheat",
        remedy="Return it",
        deadline=NOW + timedelta(days=30),
        state=state,
        policy=freeze_policy(ladder or LADDER, {}),
        spec={},
        **{"quiet_hours": None, **fields},
    )
    session.add(campaign)
    session.flush()
    return campaign


def make_case(
    session: Session,
    campaign: Campaign,
    n: int = 1,
    *,
    phone: str | None = "+15551230000",
    email: str | None = "user@example.com",
    due: datetime = NOW,
    **recipient: Any,
) -> Case:
    person = Recipient(
        external_id=f"u{campaign.id}-{n}",
        name=f"User {n}",
        phone=phone and f"{phone[:-4]}{n:04d}",
        email=email and f"u{n}@example.com",
        **recipient,
    )
    session.add(person)
    session.flush()
    case = Case(
        campaign_id=campaign.id, recipient_id=person.id, state="pending", step=0, next_due_at=due
    )
    session.add(case)
    session.flush()
    return case


@dataclass
class RecordingChannel(Channel):
    """Records every send; answers from ``script`` (then success)."""

    kind: ChannelKind = ChannelKind.SMS
    script: list[SendResult | Exception] = field(default_factory=list)
    sent: list[tuple[int, int]] = field(default_factory=list)
    texts: list[tuple[int, str]] = field(default_factory=list)

    def _next(self) -> SendResult:
        if self.script:
            outcome = self.script.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return SendResult(provider_id=f"SM{len(self.sent) + len(self.texts)}", cost_units=1.0)

    def send(self, message: Outbound) -> SendResult:
        result = self._next()
        if result.ok:
            self.sent.append((message.case_id, message.step or 0))
        return result

    def send_text(self, message: Outbound) -> SendResult:
        result = self._next()
        if result.ok:
            self.texts.append((message.case_id, message.text))
        return result
