"""Spending of the campaigns still spending: the budget alert (a running campaign whose
spending passed its file's ``budget`` is a risk event, ``reporting.incidents``, raised once
and ended when the campaign stops) and the cost series of ``/metrics``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.states import CaseState
from pipeline.cost.prices import PriceList, price_list
from pipeline.cost.spend import budget_of, campaign_cost
from pipeline.models import Campaign
from pipeline.reporting import incidents, metrics
from pipeline.reporting.incidents import Finding

# A paused campaign still spends (calls end, follow-ups go out) and may resume.
SPENDING = ("running", "paused")


def spending_campaigns(session: Session) -> dict[int, dict[str, Any]]:
    """Campaign id → its ``cost`` figures, for every running or paused campaign."""
    prices = price_list()
    query = select(Campaign).where(Campaign.state.in_(SPENDING)).order_by(Campaign.id)
    return {c.id: cost_of(session, c, prices) for c in session.scalars(query)}


def cost_of(session: Session, campaign: Campaign, prices: PriceList) -> dict[str, Any]:
    counts = metrics.campaign_counts(session, campaign.id)
    return campaign_cost(
        session,
        campaign,
        counts.cost,
        reached=counts.reached,
        completed=counts.states[CaseState.COMPLETED.value],
        answered=counts.answered,
        prices=prices,
    )


def over_budget(session: Session) -> list[Finding]:
    """One finding per spending campaign whose cost passed its budget."""
    prices = price_list()
    findings = []
    query = select(Campaign).where(Campaign.state.in_(SPENDING)).order_by(Campaign.id)
    for campaign in session.scalars(query):
        budget = budget_of(campaign)
        if budget is None:
            continue  # no budget: nothing to pass, and no need to count its spending
        total = cost_of(session, campaign, prices)["total"]
        if total > budget:
            detail = (
                f"campaign {campaign.id} spent {total:.2f} {prices.currency}, "
                f"over its budget of {budget:.2f}"
            )
            findings.append(Finding(incidents.BUDGET_PASSED, f"campaign:{campaign.id}", detail))
    return findings
