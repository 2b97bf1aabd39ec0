"""Refusal demands on the dashboard: listed with masked words, closed by an agent; the
campaign page shows the refusal breakdown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.models import Case, RefusalDemand
from pipeline.refusals.record import record_reason

pytestmark = pytest.mark.postgres


def test_a_demand_is_listed_masked_closed_and_counted(
    login: Callable[..., str],
    csrf_of: Callable[[str], str],
    client: TestClient,
    seeded: Any,
    web_env: Engine,
) -> None:
    with Session(web_env) as session:
        refused = session.scalars(
            select(Case).where(Case.campaign_id == seeded.campaign_id, Case.state == "refused")
        ).one()
        refused.last_response_at = utcnow()
        record_reason(
            session, refused, "refund me, call +14155550199", channel="sms", now=utcnow(),
            actor="test",
        )  # fmt: skip
        session.commit()
    login(client)
    page = client.get("/dashboard/inbox/demands")
    assert page.status_code == 200
    assert "want compensation" in page.text and "Battery recall" in page.text
    assert "+14155550199" not in page.text
    with Session(web_env) as session:
        demand_id = session.scalars(select(RefusalDemand.id)).one()
    closed = client.post(
        f"/dashboard/inbox/demands/{demand_id}/close",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert closed.status_code == 303
    after = client.get("/dashboard/inbox/demands").text
    assert f"Demand #{demand_id} closed." in after and "No open demand." in after
    with Session(web_env) as session:
        assert session.scalars(select(RefusalDemand.closed_by)).one() == "user:ann"
    campaign = client.get(f"/dashboard/campaigns/{seeded.campaign_id}").text
    assert 'data-refusal="want_compensation"><b>1</b>' in campaign
    assert 'data-refusal="not_given"><b>0</b>' in campaign
