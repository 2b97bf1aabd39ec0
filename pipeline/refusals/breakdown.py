"""Why people refused, counted: ``recall status``'s ``refusals``.

Every reason the campaign offers is listed (0 when nobody gave it); a case counts once,
under the latest reason it gave — also when the person later agreed, since why they
refused first is what the recall team learns from. ``not_given`` counts the cases that are
refused now and gave no reason since refusing. Reads only the cases with a reason (a
partial index) and the refused ones.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pipeline.cases.states import CaseState
from pipeline.models import Campaign, Case
from pipeline.refusals.catalogue import campaign_reasons

NOT_GIVEN = "not_given"


def refusal_breakdown(session: Session, campaign: Campaign) -> dict[str, int]:
    """{reason code: cases} for every reason of the campaign, then ``not_given``."""
    counts = {r.code: 0 for r in campaign_reasons(campaign.reason, campaign.spec)}
    rows = session.execute(
        select(Case.refusal_reason, func.count())
        .where(Case.campaign_id == campaign.id, Case.refusal_reason.is_not(None))
        .group_by(Case.refusal_reason)
    )
    for code, count in rows:
        counts[str(code)] = counts.get(str(code), 0) + int(count)
    counts[NOT_GIVEN] = (
        session.scalar(
            select(func.count()).where(
                Case.campaign_id == campaign.id,
                Case.state == CaseState.REFUSED.value,
                or_(
                    Case.refusal_reason_at.is_(None),
                    Case.refusal_reason_at < Case.last_response_at,
                ),
            )
        )
        or 0
    )
    return counts
