"""The budget alert: a running campaign that spent past its file's budget opens one
``budget_passed`` incident; a campaign under budget, or without one, opens none."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.cost.budget import over_budget
from pipeline.models import Attempt, Incident
from pipeline.reporting import incidents
from pipeline.settings import get_settings
from tests.pipeline_factories import NOW, make_campaign, make_case


def _spend(session: Session, budget: float | None, segments: float) -> int:
    campaign = make_campaign(session)
    campaign.spec = {} if budget is None else {"budget": budget}
    case = make_case(session, campaign, phone="+15551230000")
    session.add(Attempt(case_id=case.id, channel="sms", step=0, status="delivered",
                        cost_units=segments, sent_at=NOW))  # fmt: skip
    session.flush()
    return campaign.id


def test_spending_past_the_budget_opens_one_incident(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "price_sms_segment", 0.01)
    monkeypatch.setattr(get_settings(), "price_sms_segment_by_country", "")
    with Session(engine) as session:
        over = _spend(session, budget=1.0, segments=101)  # 1.01 spent
        _spend(session, budget=1.0, segments=100)  # exactly the budget: not past it
        _spend(session, budget=None, segments=10_000)
        findings = over_budget(session)
        assert [f.key for f in findings] == [f"campaign:{over}"]
        assert "1.01 USD" in findings[0].detail and "1.00" in findings[0].detail
        notices = incidents.reconcile(session, incidents.BUDGET_PASSED, findings, NOW)
        assert [n.event for n in notices] == ["opened"]
        # Still over at the next check: the same incident, not a second one.
        assert (
            incidents.reconcile(session, incidents.BUDGET_PASSED, over_budget(session), NOW) == []
        )
        session.commit()
        opened = session.scalars(select(Incident.key).where(Incident.kind == "budget_passed"))
        assert list(opened) == [f"campaign:{over}"]
