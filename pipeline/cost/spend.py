"""What a campaign spent, in money: the status JSON's ``cost``.

Units come from the campaign's figures (``reporting.metrics.Counts.cost``: the tallies on
PostgreSQL, grouped rows on SQLite) plus its follow-up sends (opt-out confirmations, agents'
replies), priced per the channel's cost unit. Only where a unit is priced per country are
the segments grouped by destination (the first digits of the number), which reads the
campaign's sends of that channel once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.cases.states import CaseState
from pipeline.channel_port import channel_kinds, spec_for
from pipeline.cost.prices import PriceList, country_of, price_list
from pipeline.models import Attempt, Campaign, Case, FollowUpSend, Recipient

# Enough of an E.164 number to know its country: "+" and a calling code of up to 3 digits.
_PREFIX_CHARS = 4


def campaign_cost(
    session: Session,
    campaign: Campaign,
    units: Mapping[str, float],
    *,
    reached: int,
    completed: int,
    answered: int,
    prices: PriceList | None = None,
) -> dict[str, Any]:
    """``{currency, total, per_channel, per_case_reached, per_completed_case, per_answer,
    budget, budget_used}``; ``units`` are the campaign's notice units per channel."""
    prices = prices or price_list()
    follow_ups = follow_up_units(session, campaign.id)
    per_channel: dict[str, float] = {}
    for channel in channel_kinds():
        unit = spec_for(channel).cost_unit
        if prices.varies_by_country(unit):
            by_country = units_by_country(session, campaign.id, channel)
            amount = sum(prices.price(unit, c) * n for c, n in by_country.items())
        else:
            sent = units.get(channel, 0.0) + follow_ups.get(channel, 0.0)
            amount = prices.price(unit) * sent
        if amount or channel in units:
            per_channel[channel] = round(amount, 6)
    total = round(sum(per_channel.values()), 6)
    budget = budget_of(campaign)
    return {
        "currency": prices.currency,
        "total": total,
        "per_channel": per_channel,
        "per_case_reached": _per(total, reached),
        "per_completed_case": _per(total, completed),
        "per_answer": _per(total, answered),
        "budget": budget,
        "budget_used": None if not budget else round(total / budget, 6),
    }


def _per(total: float, count: int) -> float | None:
    return round(total / count, 6) if count else None


def budget_of(campaign: Campaign) -> float | None:
    """The campaign file's ``budget`` (in the currency of the prices), if it set one."""
    value = (campaign.spec or {}).get("budget")
    return None if value is None else float(value)


def follow_up_units(session: Session, campaign_id: int) -> dict[str, float]:
    """Cost units of the campaign's follow-up sends, per channel."""
    query = (
        select(FollowUpSend.channel, func.coalesce(func.sum(FollowUpSend.cost_units), 0.0))
        .join(Case, Case.id == FollowUpSend.case_id)
        .where(Case.campaign_id == campaign_id)
        .group_by(FollowUpSend.channel)
    )
    return {channel: float(n) for channel, n in session.execute(query) if n}


def units_by_country(session: Session, campaign_id: int, channel: str) -> dict[str | None, float]:
    """The channel's units (notices and follow-ups) per destination country."""
    found: dict[str | None, float] = {}
    for model in (Attempt, FollowUpSend):
        prefix = func.substr(Recipient.phone, 1, _PREFIX_CHARS)
        query = (
            select(prefix, func.coalesce(func.sum(model.cost_units), 0.0))
            .join(Case, Case.id == model.case_id)
            .join(Recipient, Recipient.id == Case.recipient_id)
            .where(Case.campaign_id == campaign_id, model.channel == channel)
            .group_by(prefix)
        )
        for first_digits, n in session.execute(query):
            country = country_of(first_digits)
            found[country] = found.get(country, 0.0) + float(n)
    return found


def counted_cases(states: Mapping[str, int], reached: int, answered: int) -> dict[str, int]:
    """The denominators of the cost figures, from a campaign's counts."""
    return {
        "reached": reached,
        "completed": states.get(CaseState.COMPLETED.value, 0),
        "answered": answered,
    }
