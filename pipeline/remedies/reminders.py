"""One reminder for a case that agreed and whose remedy is not confirmed yet.

``remedy_reminder`` in the campaign file is how long after agreeing to remind (``3d``).
The reminder goes once, on the first channel of the person's own ladder that can carry a
written message to them (an address on file, not opted out), and only while the campaign
runs and before its deadline: after the deadline there is nothing left to remind of.

"Once" is the follow-up outbox's key (``remedy_reminder:<case id>``, unique): the
scheduler's job stages the row and enqueues ``channel.send_followup`` after commit; a
second run, a second scheduler or a lost message never makes a second row, and a lost
message is handed on again by the outbox's own sweep.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from pipeline.cases.events import follow_up_channel
from pipeline.cases.policy import ladder_for
from pipeline.cases.states import CaseState
from pipeline.channel_port import opted_out, spec_for
from pipeline.db import dialect_of, insert_or_ignore
from pipeline.durations import parse_duration
from pipeline.followups.outbox import StagedFollowUp
from pipeline.models import Campaign, Case, FollowUpSend

KIND = "remedy_reminder"


def reminder_wait(spec: dict[str, object]) -> timedelta | None:
    """The campaign's ``remedy_reminder`` as stored at launch, or None (no reminder)."""
    value = spec.get("remedy_reminder")
    if not value:
        return None
    try:
        return parse_duration(str(value))
    except ValueError:
        return None  # validated at launch; an odd stored value sends nothing


def reminder_channel(case: Case) -> str | None:
    """The first step of the person's ladder that can carry a written message to them."""
    for step in ladder_for(case.campaign.policy or {}, case.recipient.risk_tier):
        spec = spec_for(step.channel)
        reachable = getattr(case.recipient, spec.address, None)
        if spec.takes_replies and reachable and not opted_out(case.recipient, step.channel):
            return step.channel
    return follow_up_channel(case.recipient, None)


def stage_due_reminders(session: Session, now: datetime, limit: int) -> list[StagedFollowUp]:
    """Stage the reminders now due (at most ``limit``); enqueue them after commit."""
    staged: list[StagedFollowUp] = []
    campaigns = session.scalars(
        select(Campaign).where(Campaign.state == "running", Campaign.deadline > now)
    )
    for campaign in campaigns:
        wait = reminder_wait(campaign.spec or {})
        if wait is not None and len(staged) < limit:
            staged += _stage_for(session, campaign.id, now - wait, now, limit - len(staged))
    return staged


def _stage_for(
    session: Session, campaign_id: int, agreed_before: datetime, now: datetime, limit: int
) -> list[StagedFollowUp]:
    reminded = exists().where(FollowUpSend.case_id == Case.id, FollowUpSend.kind == KIND)
    cases = session.scalars(
        select(Case)
        .where(
            Case.campaign_id == campaign_id,
            Case.state == CaseState.AGREED.value,
            Case.last_response_at <= agreed_before,
            ~reminded,
        )
        .order_by(Case.id)
        .limit(limit)
    ).unique()
    staged = []
    for case in cases:
        channel = reminder_channel(case)
        if _claim(session, case.id, channel, now) and channel is not None:
            staged.append(StagedFollowUp(f"{KIND}:{case.id}", case.id, channel, KIND))
    return staged


def _claim(session: Session, case_id: int, channel: str | None, now: datetime) -> bool:
    """Write the reminder's outbox row; False when another run wrote it first. A person
    no channel can reach gets a ``dropped`` row: looked at once, not at every run."""
    inserted = session.scalar(
        insert_or_ignore(FollowUpSend, dialect_of(session), ["key"])
        .values(
            key=f"{KIND}:{case_id}", case_id=case_id, channel=channel or "", kind=KIND,
            status="claimed" if channel else "dropped", claimed_at=now, tries=0,
            cost_units=0.0,
        )
        .returning(FollowUpSend.id)
    )  # fmt: skip
    return inserted is not None
