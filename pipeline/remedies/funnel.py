"""The remedy funnel for status, dashboard and report: agreed → remedied.

- ``agreed``: cases that agreed and wait for their remedy (state ``agreed``) plus those
  whose remedy was confirmed after agreeing;
- ``remedied``: every confirmed remedy; ``remedied_without_agreement`` the part of it for
  cases that never agreed (counted apart: they did not go through the notice's yes);
- ``awaiting``: agreed, remedy not confirmed yet;
- ``rate``: remedied after agreeing ÷ agreed (0 with no agreement yet).

On an ``on_agree`` campaign a case completes when it agrees, so ``agreed`` counts only the
confirmations recorded for it; the funnel is the measure of ``on_remedy`` campaigns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.cases.states import CaseState
from pipeline.models import RemedyConfirmation


def remedy_funnel(session: Session, campaign_id: int, states: dict[str, int]) -> dict[str, Any]:
    """The ``remedies`` key of ``recall status --json`` (see the module docstring)."""
    rows = session.execute(
        select(RemedyConfirmation.without_agreement, func.count())
        .where(RemedyConfirmation.campaign_id == campaign_id)
        .group_by(RemedyConfirmation.without_agreement)
    )
    by_flag = {bool(flag): int(count) for flag, count in rows}
    after_agreeing, without = by_flag.get(False, 0), by_flag.get(True, 0)
    awaiting = int(states.get(CaseState.AGREED.value, 0))
    agreed = awaiting + after_agreeing
    return {
        "agreed": agreed,
        "remedied": after_agreeing + without,
        "remedied_without_agreement": without,
        "awaiting": awaiting,
        "rate": round(after_agreeing / agreed, 6) if agreed else 0.0,
    }
