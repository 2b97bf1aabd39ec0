"""Overdue complaint stages raise incidents through the scheduler's risk-event check: one
per late stage, posted once, ended when the stage moves on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pipeline.clock import utcnow
from pipeline.complaints import records
from pipeline.complaints.overdue import overdue_by_stage
from pipeline.complaints.stages import INVESTIGATING
from pipeline.settings import get_settings
from schedules.incident_job import IncidentWatch
from tests.pipeline.campaigns.test_deadlines import chat_hook  # noqa: F401 - a fixture
from tests.pipeline_factories import make_campaign, make_case

pytestmark = [pytest.mark.postgres]
Hook = tuple[str, list[dict[str, Any]]]
LONG_AGO = datetime(2026, 1, 5, 9, tzinfo=UTC)  # a Monday


@pytest.fixture
def sessions(pg_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(bind=pg_engine, expire_on_commit=False)


def _opened(alerts: list[dict[str, Any]], event: str) -> list[tuple[str, str]]:
    return [(a["kind"], a["key"]) for a in alerts if a["event"] == f"incident.{event}"]


def test_a_late_stage_is_an_incident_until_it_moves_on(
    sessions: sessionmaker[Session],
    chat_hook: Hook,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, alerts = chat_hook
    monkeypatch.setattr(get_settings(), "alert_webhook_url", url)
    with sessions.begin() as session:
        campaign = make_campaign(session)
        late, on_time = make_case(session, campaign, 1), make_case(session, campaign, 2)
        records.on_question(session, late, "I will complain", "sms", LONG_AGO, [])
        records.on_question(session, on_time, "I will complain", "sms", utcnow(), [])
        complaint_id = records.complaint_of(session, late.id).id  # type: ignore[union-attr]
    with sessions() as session:
        assert overdue_by_stage(session, utcnow()) == {"routed": 1}

    assert IncidentWatch(sessions).run() == 1
    assert _opened(alerts, "opened") == [("complaints_overdue", "routed")]
    assert "1 complaint(s) past the routed deadline" in alerts[0]["detail"]
    assert IncidentWatch(sessions).run() == 0  # still late: not posted again yet

    with sessions.begin() as session:  # investigating, yet 3 working days from January 5
        records.move(session, complaint_id, INVESTIGATING, "user:ann", utcnow())
    assert IncidentWatch(sessions).run() == 2
    assert _opened(alerts, "ended") == [("complaints_overdue", "routed")]
    assert _opened(alerts, "opened")[-1] == ("complaints_overdue", "investigating")
