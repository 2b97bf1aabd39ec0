"""The budget alert: a running campaign whose spending passed its file's ``budget`` is a
risk event (``reporting.incidents``), raised once and ended when the campaign stops."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.cases.states import CaseState
from pipeline.cost.prices import price_list
from pipeline.cost.spend import budget_of, campaign_cost
from pipeline.models import Campaign
from pipeline.reporting import incidents, metrics
from pipeline.reporting.incidents import Finding

# A paused campaign still spends (calls end, follow-ups go out) and may resume.
_SPENDING = ("running", "paused")


def over_budget(session: Session) -> list[Finding]:
    """One finding per spending campaign whose cost passed its budget."""
    prices = price_list()
    findings = []
    for campaign in session.scalars(select(Campaign).where(Campaign.state.in_(_SPENDING))):
        budget = budget_of(campaign)
        if budget is None:
            continue
        counts = metrics.campaign_counts(session, campaign.id)
        cost = campaign_cost(
            session,
            campaign,
            counts.cost,
            reached=counts.reached,
            completed=counts.states[CaseState.COMPLETED.value],
            answered=counts.answered,
            prices=prices,
        )
        if cost["total"] > budget:
            detail = (
                f"campaign {campaign.id} spent {cost['total']:.2f} {prices.currency}, "
                f"over its budget of {budget:.2f}"
            )
            findings.append(Finding(incidents.BUDGET_PASSED, f"campaign:{campaign.id}", detail))
    return findings
