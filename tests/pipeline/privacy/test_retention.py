"""RECALL_RETENTION_DAYS: a closed campaign's raw webhooks, message texts and the contact
data of people with no live case go N days after it closed; counts and the audit trail
stay; the purge is audited, runs from the scheduler and shows in the status and report.
Matching fills ``inbound_event.case_id``, the index erasure and the purge go through."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.clock import utcnow
from pipeline.db import session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.models import AuditEvent, Campaign, InboundEvent, Recipient, Response
from pipeline.privacy import retention
from pipeline.reporting.metrics import campaign_status
from pipeline.reporting.report import render_report
from pipeline.settings import get_settings
from tests import inbound_rows as rows

DAYS = 30


def _world(engine: Engine, closed_days_ago: float) -> dict[str, int]:
    """A closed campaign: ``gone`` answered by SMS (a status callback and a reply stored),
    ``stays`` also has a case in a running campaign. Returns their ids."""
    with session_scope(engine) as session:
        old, live = rows.campaign(session), rows.campaign(session)
        gone, stays = rows.recipient(session), rows.recipient(session)
        case = rows.case(session, old, gone)
        rows.case(session, old, stays)
        rows.case(session, live, stays)
        sent = rows.attempt(session, case)
        status = {"MessageSid": sent.provider_id, "MessageStatus": "delivered", "To": gone.phone}
        events = [
            rows.inbound(session, "twilio", "sms_status", status),
            rows.sms(session, gone.phone or "", "YES please"),
        ]
        for event in events:
            process_inbound_event(session, event.id)
        old.state, old.closed_at = "closed", utcnow() - timedelta(days=closed_days_ago)
        return {"campaign": old.id, "gone": gone.id, "stays": stays.id, "case": case.id}


def test_matching_fills_the_webhooks_case_index(engine: Engine) -> None:
    ids = _world(engine, closed_days_ago=1)
    with Session(engine) as session:
        matched = session.scalars(select(InboundEvent.case_id)).all()
    assert matched == [ids["case"], ids["case"]]


def test_the_purge_clears_personal_data_and_keeps_the_counts(engine: Engine) -> None:
    ids = _world(engine, closed_days_ago=DAYS + 1)
    with Session(engine) as session:
        before = campaign_status(session, ids["campaign"])
    with session_scope(engine) as session:
        summary = retention.purge_due(session, utcnow(), DAYS)
    assert summary == retention.PurgeSummary(ids["campaign"], 2, 1, 1)
    with Session(engine) as session:
        gone, stays = session.get(Recipient, ids["gone"]), session.get(Recipient, ids["stays"])
        assert gone is not None and (gone.name, gone.phone, gone.email) == ("", None, None)
        assert stays is not None and stays.phone and stays.email  # still in a live campaign
        assert {str(e.payload) for e in session.scalars(select(InboundEvent))} == {
            str(retention.PURGED_PAYLOAD)
        }
        assert [(r.kind, r.raw_text, r.sender) for r in session.scalars(select(Response))] == [
            ("agree", "", None)
        ]
        after = campaign_status(session, ids["campaign"])
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.purge"))
    assert event.entity == f"campaign:{ids['campaign']}"
    assert event.data == {"webhooks": 2, "responses": 1, "recipients": 1}
    for key in ("states", "responses", "channels", "rates"):
        assert after[key] == before[key], key
    assert after["retention"]["purged_at"] is not None


def test_nothing_is_purged_before_its_time_or_without_the_setting(engine: Engine) -> None:
    _world(engine, closed_days_ago=DAYS - 1)
    with session_scope(engine) as session:
        assert retention.purge_due(session, utcnow(), DAYS) is None
        assert retention.purge_due(session, utcnow() + timedelta(days=5), None) is None
    with Session(engine) as session:
        assert all(r.phone for r in session.scalars(select(Recipient)))


def test_a_campaign_is_purged_once(engine: Engine) -> None:
    _world(engine, closed_days_ago=DAYS + 1)
    with session_scope(engine) as session:
        assert retention.purge_due(session, utcnow(), DAYS) is not None
    with session_scope(engine) as session:
        assert retention.purge_due(session, utcnow(), DAYS) is None


def test_the_scheduler_job_purges_and_the_report_lists_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schedules.jobs import Jobs, standard_jobs

    ids = _world(engine, closed_days_ago=DAYS + 1)
    monkeypatch.setenv("RECALL_RETENTION_DAYS", str(DAYS))
    get_settings.cache_clear()
    try:
        jobs = Jobs(sessionmaker(engine))
        assert "retention" in [spec.name for spec in standard_jobs(jobs)]
        assert jobs.purge_expired_data() == 1
        assert jobs.purge_expired_data() == 0
        with Session(engine) as session:
            campaign = session.get(Campaign, ids["campaign"])
            assert campaign is not None and isinstance(campaign.purged_at, datetime)
            html = render_report(session, ids["campaign"], "html")
    finally:
        get_settings.cache_clear()
    assert f"purged {DAYS} days after close; purged at" in html
