"""/metrics' money series: what each running or paused campaign spent per channel, per
completed case, and the share of its budget, as the status computes them."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.models import Attempt
from pipeline.reporting.metrics import campaign_status
from pipeline.settings import get_settings
from tests.pipeline_factories import NOW, make_campaign, make_case
from web.prometheus import _cost_metrics


def test_cost_series_follow_the_status(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "price_sms_segment", 0.1)
    monkeypatch.setattr(get_settings(), "price_email", 0.01)
    with Session(engine) as session:
        campaign = make_campaign(session)
        campaign.spec = {"budget": 2.0}
        closed = make_campaign(session, state="closed")  # spends no more: no series
        for n, (channel, units) in enumerate([("sms", 3.0), ("email", 1.0), ("sms", 2.0)]):
            case = make_case(session, campaign, n)
            case.state = "completed" if n == 0 else "awaiting_response"
            session.add(Attempt(case_id=case.id, channel=channel, step=0, status="delivered",
                                cost_units=units, sent_at=NOW))  # fmt: skip
        session.add(Attempt(case_id=make_case(session, closed, 9).id, channel="sms", step=0,
                            status="delivered", cost_units=7.0, sent_at=NOW))  # fmt: skip
        session.commit()
        families = {family.name: family for family in _cost_metrics(session)}
        status = campaign_status(session, campaign.id)["cost"]
    spent = {
        (s.labels["campaign"], s.labels["channel"], s.labels["currency"]): s.value
        for s in families["recall_campaign_cost"].samples
    }
    cid = str(campaign.id)
    assert spent[cid, "sms", "USD"] == pytest.approx(0.5) == status["per_channel"]["sms"]
    assert spent[cid, "email", "USD"] == pytest.approx(0.01)
    assert all(key[0] == cid for key in spent)
    [per_completed] = families["recall_campaign_cost_per_completed_case"].samples
    assert per_completed.value == pytest.approx(0.51) == status["per_completed_case"]
    [used] = families["recall_campaign_budget_used"].samples
    assert used.value == pytest.approx(0.51 / 2.0)
