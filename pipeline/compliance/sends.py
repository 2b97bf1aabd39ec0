"""Compliance figures about what was sent: inside quiet hours, after an opt-out, over the
per-person frequency caps, and how long a STOP took to suppress the channel.

Each reads the campaign's sends once (and, for the caps, every send to its recipients,
since caps hold across campaigns); the rules themselves are the pure functions below.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, time
from functools import lru_cache
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from pipeline.cases.caps import NOT_CONTACTED, WINDOW, daily_cap
from pipeline.cases.quiet_hours import (
    DEFAULT_QUIET_HOURS,
    overrides_quiet_hours,
    parse_clock,
    zone_for,
)
from pipeline.channel_port import channel_kinds, spec_for
from pipeline.clock import as_utc
from pipeline.models import Attempt, Campaign, Case, FollowUpSend, InboundEvent, Recipient, Response

OPT_OUT = "opt_out"
OPT_IN = "opt_in"  # a START: the person opted back in on that channel
# The one message that may follow an opt-out on its channel: the confirmation of it.
CONFIRMATION = "opt_out_confirmation"
LISTED = 50  # how many quiet-hours sends the figure lists


def quiet_hours_sends(session: Session, campaign: Campaign) -> dict[str, Any]:
    """Notices sent inside the recipient's quiet hours; the window is the campaign's (the
    default one where the file turned them off, which is then listed as an override)."""
    window = campaign.quiet_hours or DEFAULT_QUIET_HOURS
    quiet = [c for c in channel_kinds() if spec_for(c).quiet_hours]
    query = (
        select(Attempt.case_id, Attempt.channel, Attempt.sent_at, Recipient.timezone)
        .join(Case, Case.id == Attempt.case_id)
        .join(Recipient, Recipient.id == Case.recipient_id)
        .where(Case.campaign_id == campaign.id, Attempt.sent_at.is_not(None))
        .where(Attempt.channel.in_(quiet))
        .order_by(Attempt.sent_at)
    )
    start, end = parse_clock(window["start"]), parse_clock(window["end"])
    inside = []
    for case_id, channel, at, tz in session.execute(query.execution_options(yield_per=5000)):
        moment = as_utc(at or campaign.created_at)  # sent_at is set: the query asks for it
        if in_window(moment.astimezone(_zone(tz)).time(), start, end):
            inside.append({"case_id": case_id, "channel": channel, "sent_at": moment.isoformat()})
    return {"count": len(inside), "overrides": overrides(campaign), "sends": inside[:LISTED]}


def in_window(local: time, start: time, end: time) -> bool:
    """Whether a wall-clock time falls in a quiet window (which may cross midnight). Read
    on the clock the person saw, which is what quiet hours promise; a send the pipeline
    let through at a window edge moved by daylight saving reads as that clock shows it."""
    if start == end:
        return False
    return start <= local < end if start < end else local >= start or local < end


@lru_cache(maxsize=1024)
def _zone(tz_name: str | None) -> ZoneInfo:
    return zone_for(tz_name)


def overrides(campaign: Campaign) -> list[str]:
    """What in the campaign file let messages through quiet hours."""
    found = []
    if overrides_quiet_hours(campaign.reason, campaign.spec):
        found.append("override_quiet_hours: true (security_incident)")
    if campaign.quiet_hours is None:
        found.append("quiet_hours: null (turned off in the campaign file)")
    return found


def _opted_out_spans() -> Any:
    """Each opt-out received from a person on a channel (in any campaign), from the moment
    it came to the first opt-in (START) after it on the same channel; ``until`` is NULL
    while they are still opted out."""
    stop, stop_case = aliased(Response), aliased(Case)
    start, start_case = aliased(Response), aliased(Case)
    next_start = (
        select(func.min(start.received_at))
        .join(start_case, start_case.id == start.case_id)
        .where(
            start.kind == OPT_IN,
            start_case.recipient_id == stop_case.recipient_id,
            start.channel == stop.channel,
            start.received_at > stop.received_at,
        )
        .scalar_subquery()
    )
    return (
        select(
            stop_case.recipient_id.label("recipient_id"),
            stop.channel.label("channel"),
            stop.received_at.label("since"),
            next_start.label("until"),
        )
        .join(stop_case, stop_case.id == stop.case_id)
        .where(stop.kind == OPT_OUT)
        .subquery()
    )


def sends_after_opt_out(session: Session, campaign_id: int) -> int:
    """The campaign's sends on a channel while the person was opted out of it (must be 0):
    after a STOP and before the next START on that channel. The confirmation of the opt-out
    is the one allowed; a send after the person opted back in is legitimate."""
    total = 0
    for model in (Attempt, FollowUpSend):
        spans = _opted_out_spans()
        while_out = (
            select(spans.c.recipient_id)
            .where(
                spans.c.recipient_id == Case.recipient_id,
                spans.c.channel == model.channel,
                model.sent_at > spans.c.since,
                or_(spans.c.until.is_(None), model.sent_at < spans.c.until),
            )
            .exists()
        )
        query = (
            select(func.count())
            .select_from(model)
            .join(Case, Case.id == model.case_id)
            .where(Case.campaign_id == campaign_id, while_out)
        )
        if model is FollowUpSend:
            query = query.where(FollowUpSend.kind != CONFIRMATION)
        total += int(session.scalar(query) or 0)
    return total


def stop_to_suppression(session: Session, campaign_id: int) -> dict[str, Any]:
    """Opt-outs received from the campaign's people, and the seconds from the webhook that
    carried each to the suppression (both recorded in the same transaction as the answer)."""
    query = (
        select(InboundEvent.received_at, Response.received_at)
        .join(Response, Response.inbound_event_id == InboundEvent.id)
        .join(Case, Case.id == Response.case_id)
        .where(Case.campaign_id == campaign_id, Response.kind == OPT_OUT)
    )
    seconds = [
        max(0.0, (as_utc(done) - as_utc(asked)).total_seconds())
        for asked, done in session.execute(query)
    ]
    return seconds_summary(seconds)


def seconds_summary(seconds: Sequence[float]) -> dict[str, Any]:
    return {
        "count": len(seconds),
        "median_seconds": round(median(seconds), 3) if seconds else None,
        "max_seconds": round(max(seconds), 3) if seconds else None,
    }


def over_frequency_caps(session: Session, campaign_id: int) -> int:
    """The campaign's sends that were more than the daily cap allowed for their person on
    their channel (counted over the 24 hours before each, across every campaign; must be 0)."""
    people = select(Case.recipient_id).where(Case.campaign_id == campaign_id)
    contacted = (Attempt.sent_at.is_not(None), Attempt.status.not_in(NOT_CONTACTED))
    # Only a person with more sends on a channel than its cap can be over it; a campaign
    # sends each person one notice per step, so the timelines to walk are few.
    lowest = min((_cap(channel) for channel in channel_kinds()), default=1)
    crowded = (
        select(Case.recipient_id)
        .join(Attempt, Attempt.case_id == Case.id)
        .where(Case.recipient_id.in_(people), *contacted)
        .group_by(Case.recipient_id, Attempt.channel)
        .having(func.count() > lowest)
    )
    query = (
        select(Case.recipient_id, Attempt.channel, Attempt.claimed_at, Case.campaign_id)
        .join(Case, Case.id == Attempt.case_id)
        .where(Case.recipient_id.in_(crowded), *contacted)
        .order_by(Case.recipient_id, Attempt.channel, Attempt.claimed_at)
    )
    series: dict[tuple[int, str], list[tuple[datetime, bool]]] = defaultdict(list)
    for person, channel, at, in_campaign in session.execute(query):
        series[person, channel].append((as_utc(at), in_campaign == campaign_id))
    return sum(_over_cap(sends, _cap(channel)) for (_, channel), sends in series.items())


def _cap(channel: str) -> int:
    try:
        return daily_cap(channel)
    except ValueError:  # a channel no longer installed: no cap to hold it to
        return 1_000_000


def _over_cap(sends: Iterable[tuple[datetime, bool]], cap: int) -> int:
    """Sends (in time order; flagged when they belong to the campaign) that found ``cap``
    others in the 24 hours before them."""
    times: list[datetime] = []
    over = start = 0
    for at, counted in sends:
        while start < len(times) and at - times[start] >= WINDOW:
            start += 1
        if counted and len(times) - start >= cap:
            over += 1
        times.append(at)
    return over
