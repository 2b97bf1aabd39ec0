"""The satisfaction figures: ``recall status``'s ``satisfaction`` key, the dashboard, the
report and ``/metrics``.

``answers`` scores received; ``mean`` their average (null with none); ``distribution``
``{"1": n, …, "5": n}``; ``rate`` answers ÷ questions asked (people no channel could reach
were not asked and do not count); ``asked`` the questions sent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.models import SatisfactionAnswer
from pipeline.satisfaction.ask import SCORES


def satisfaction_summary(session: Session, campaign_id: int) -> dict[str, Any]:
    """See the module docstring."""
    asked = session.scalar(
        select(func.count()).where(
            SatisfactionAnswer.campaign_id == campaign_id, SatisfactionAnswer.channel != ""
        )
    )
    rows = session.execute(
        select(SatisfactionAnswer.score, func.count())
        .where(SatisfactionAnswer.campaign_id == campaign_id, SatisfactionAnswer.score.is_not(None))
        .group_by(SatisfactionAnswer.score)
    )
    distribution = {str(score): 0 for score in SCORES}
    for score, count in rows:
        distribution[str(score)] = int(count)
    answers = sum(distribution.values())
    total = sum(int(score) * n for score, n in distribution.items())
    return {
        "answers": answers,
        "mean": round(total / answers, 3) if answers else None,
        "distribution": distribution,
        "rate": round(answers / asked, 6) if asked else 0.0,
        "asked": int(asked or 0),
    }
