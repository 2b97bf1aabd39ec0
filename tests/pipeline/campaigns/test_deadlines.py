"""Campaign deadlines and overdue queries, on a controlled clock."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import time_machine
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.campaigns import deadlines
from pipeline.clock import utcnow
from pipeline.models import AuditEvent, Campaign, Case
from pipeline.settings import get_settings
from schedules import deadlines as deadline_job
from tests import sched_data as data

DEADLINE = datetime(2026, 7, 1, 12, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _cases(session: Session, campaign: Campaign) -> dict[str, Case]:
    return {
        "pending": data.case(session, campaign, state="pending", next_due_at=DEADLINE),
        "waiting": data.case(
            session, campaign, state="awaiting_response", step=1, next_due_at=DEADLINE
        ),
        "completed": data.case(session, campaign, state="completed", last_response="agree"),
        "query": data.case(session, campaign, state="query_open", last_response="query"),
    }


def test_deadline_closes_campaign_and_expires_open_cases(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "report_dir", str(tmp_path / "reports"))
    expiring = data.campaign(session, deadline=DEADLINE)
    later = data.campaign(session, deadline=DEADLINE + timedelta(days=1))
    cases = _cases(session, expiring)
    untouched = data.case(session, later, state="awaiting_response", next_due_at=DEADLINE)
    session.commit()

    with time_machine.travel(DEADLINE - timedelta(seconds=1), tick=False):
        assert deadline_job.close_expired_campaigns(session, utcnow()) == []
    with time_machine.travel(DEADLINE, tick=False):
        assert deadline_job.close_expired_campaigns(session, utcnow()) == [expiring.id]
        session.commit()

    assert (expiring.state, expiring.closed_at) == ("closed", DEADLINE)
    assert later.state == "running"
    assert cases["pending"].state == cases["waiting"].state == "unreachable"
    assert cases["pending"].next_due_at is None and cases["waiting"].next_due_at is None
    # An answer is kept; an open query stays with the agents.
    assert (cases["completed"].state, cases["query"].state) == ("completed", "query_open")
    assert untouched.state == "awaiting_response"
    assert expiring.final_report is not None
    assert expiring.final_report["states"]["unreachable"] == 2
    assert expiring.final_report["state"] == "closed"
    assert "campaign.deadline_closed" in session.scalars(select(AuditEvent.action)).all()
    written = sorted(path.name for path in (tmp_path / "reports").iterdir())
    assert written == [f"campaign-{expiring.id}-final.{fmt}" for fmt in ("csv", "html", "json")]

    with time_machine.travel(DEADLINE + timedelta(hours=1), tick=False):
        assert deadline_job.close_expired_campaigns(session, utcnow()) == []  # once


def test_a_cancelled_campaign_gets_its_final_report_at_the_next_check(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    monkeypatch.setattr(get_settings(), "report_dir", str(reports))
    cancelled = data.campaign(session, deadline=DEADLINE + timedelta(days=9), state="cancelled")
    running = data.campaign(session, deadline=DEADLINE + timedelta(days=9))
    session.commit()
    assert deadline_job.close_expired_campaigns(session, DEADLINE) == []
    written = sorted(path.name for path in reports.iterdir())
    assert written == [f"campaign-{cancelled.id}-final.{fmt}" for fmt in ("csv", "html", "json")]
    assert json.loads((reports / written[2]).read_text())["campaign"]["state"] == "cancelled"
    assert running.id not in deadline_job.write_missing_final_reports(session)
    assert deadline_job.write_missing_final_reports(session) == []  # written once


def test_paused_campaign_closes_cancelled_does_not(session: Session) -> None:
    paused = data.campaign(session, deadline=DEADLINE, state="paused")
    cancelled = data.campaign(session, deadline=DEADLINE, state="cancelled")
    session.commit()
    assert deadlines.close_expired_campaigns(session, DEADLINE) == [paused.id]
    assert cancelled.state == "cancelled"


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012 - one list shared with the test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def chat_hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", _Hook.received
    server.shutdown()


def test_overdue_query_is_flagged_counted_and_alerted_once(
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    chat_hook: tuple[str, list[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, received = chat_hook
    monkeypatch.setattr(get_settings(), "alert_webhook_url", url)
    campaign = data.campaign(session)
    person = data.recipient(session, phone="+15551234567", email="jane.doe@example.com")
    due = datetime(2026, 6, 1, 12, tzinfo=UTC)
    late = data.case(session, campaign, person, state="query_open", query_due_at=due)
    on_time = data.case(
        session, campaign, state="query_open", query_due_at=due + timedelta(hours=1)
    )
    answered = data.case(session, campaign, state="awaiting_response", query_due_at=due)
    session.commit()
    before = REGISTRY.get_sample_value("recall_overdue_queries_total") or 0.0

    with (
        time_machine.travel(due + timedelta(minutes=1), tick=False),
        caplog.at_level(logging.WARNING),
    ):
        found = deadlines.overdue_queries(session, utcnow())
        session.commit()
        deadline_job.alert_overdue(found)

    assert [item.case_id for item in found] == [late.id]
    assert late.query_overdue_at == due + timedelta(minutes=1)
    assert on_time.query_overdue_at is None and answered.query_overdue_at is None
    assert deadlines.overdue_query_count(session, campaign.id) == 1
    assert REGISTRY.get_sample_value("recall_overdue_queries_total") == before + 1
    assert any(record.message == "query.overdue" for record in caplog.records)
    assert len(received) == 1 and received[0]["queries"][0]["case_id"] == late.id
    posted = json.dumps(received[0])
    assert "+15551234567" not in posted
    assert deadlines.mask_phone("+15551234567") in posted

    # Already flagged: no second alert. A new query on the same case has a new clock.
    assert deadlines.overdue_queries(session, due + timedelta(minutes=2)) == []
    late.query_due_at = due + timedelta(hours=3)
    session.commit()
    assert [q.case_id for q in deadlines.overdue_queries(session, due + timedelta(hours=4))] == [
        late.id,
        on_time.id,
    ]


def test_alert_webhook_failure_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not deadlines.post_alert("http://127.0.0.1:9/unreachable", {"text": "x"})
