"""Follow-up waves: a campaign may set ``follow_up: {target: 0.8, check_at: ...}``. At the
check time, if the completion rate is below the target, every non-responder (still waiting,
or unreachable, with no answer ever) gets one more round of the escalation ladder — as
regulators ask of vehicle recalls. The check happens once per campaign.

How "one more round" works: the frozen policy's ladders are repeated once (a second copy of
every tier's steps), and each non-responder is put at the end of the first round and moved
on with the state machine's ``follow_up_wave`` event, exactly like a normal escalation. The
second round's steps have their own step numbers, so their attempts have their own
idempotency keys and never collide with the first round's.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.events import apply_event
from pipeline.cases.policy import ladder_for
from pipeline.cases.states import CaseEvent, CaseState
from pipeline.clock import as_utc
from pipeline.db import lock_rows
from pipeline.models import Campaign, Case, Recipient
from pipeline.privacy import audit
from pipeline.reporting.metrics import campaign_status

log = logging.getLogger(__name__)

NON_RESPONDER_STATES = (CaseState.AWAITING_RESPONSE.value, CaseState.UNREACHABLE.value)
BATCH = 500


def follow_up_of(campaign: Campaign) -> tuple[float, datetime] | None:
    """(target completion rate, check time) from the campaign's spec, or None."""
    follow_up = (campaign.spec or {}).get("follow_up")
    if not follow_up:
        return None
    check_at = follow_up["check_at"]
    if isinstance(check_at, str):
        check_at = datetime.fromisoformat(check_at)
    return float(follow_up["target"]), as_utc(check_at)


def run_follow_up_waves(session: Session, now: datetime) -> int:
    """Check every running campaign whose follow-up is due; returns cases put back to due."""
    due = select(Campaign).where(
        Campaign.state == "running", Campaign.follow_up_checked_at.is_(None)
    )
    candidates = session.scalars(lock_rows(session, due, of=Campaign, skip_locked=True)).all()
    total = 0
    for campaign in candidates:
        follow_up = follow_up_of(campaign)
        if follow_up is not None and follow_up[1] <= as_utc(now):
            total += check_follow_up(session, campaign, follow_up[0], now)
    return total


def check_follow_up(session: Session, campaign: Campaign, target: float, now: datetime) -> int:
    """Compare the completion rate with ``target`` once; below it, start the wave."""
    campaign.follow_up_checked_at = as_utc(now)
    status = campaign_status(session, campaign.id, compliance=False)
    completion = float(status["rates"]["completion"])
    started = completion < target
    moved = start_wave(session, campaign, now) if started else 0
    audit.record(
        session,
        actor="scheduler",
        action="campaign.follow_up_checked",
        entity=f"campaign:{campaign.id}",
        data={"completion": completion, "target": target, "wave": started, "cases": moved},
    )
    log.info(
        "campaign.follow_up_checked",
        extra={"campaign_id": campaign.id, "completion": completion, "cases": moved},
    )
    return moved


def start_wave(session: Session, campaign: Campaign, now: datetime) -> int:
    first_round = campaign.policy
    campaign.policy = repeat_ladders(first_round)
    moved, after_id = 0, 0
    while True:
        batch = session.execute(
            select(Case, Recipient.risk_tier)
            .join(Recipient, Recipient.id == Case.recipient_id)
            .where(
                Case.campaign_id == campaign.id,
                Case.state.in_(NON_RESPONDER_STATES),
                Case.last_response.is_(None),
                Case.id > after_id,
            )
            .order_by(Case.id)
            .limit(BATCH)
        ).all()
        for case, tier in batch:
            # End of round one; follow_up_wave's next-step effect moves it to round two's start.
            case.step = len(ladder_for(first_round, tier)) - 1
            apply_event(
                session,
                case,
                CaseEvent.FOLLOW_UP_WAVE,
                now=now,
                actor="scheduler",
                detail={"wave": 1},
            )
        session.flush()
        moved += len(batch)
        if len(batch) < BATCH:
            return moved
        after_id = batch[-1][0].id


def repeat_ladders(policy: dict[str, Any]) -> dict[str, Any]:
    """The policy with every ladder run twice in a row."""
    return {
        **policy,
        "default": list(policy.get("default", [])) * 2,
        "tiers": {tier: list(steps) * 2 for tier, steps in policy.get("tiers", {}).items()},
        "rounds": 2,
    }
