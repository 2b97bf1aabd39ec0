"""Risk events on real PostgreSQL and Redis: each kind is provoked the way it happens (failed
attempts stored, a message dead-lettered, ready work nobody takes, an audit row edited, a
query left overdue), raised as one incident with one post to a local chat hook, not posted
again on the next check, counted in /metrics, and ended with a post once it is cleared."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from pipeline.clock import utcnow
from pipeline.models import Attempt, AuditEvent, Case, Incident
from pipeline.privacy import audit
from pipeline.reporting import incidents
from pipeline.settings import get_settings
from schedules.incident_job import IncidentWatch
from schedules.jobs import Jobs
from tests import sched_data as data
from tests.pipeline.campaigns.test_deadlines import chat_hook  # noqa: F401 - a fixture
from web.prometheus import RecallCollector

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
NS = "recall-test"
Hook = tuple[str, list[dict[str, Any]]]


@pytest.fixture
def sessions(pg_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(bind=pg_engine, expire_on_commit=False)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def hook(chat_hook: Hook, monkeypatch: pytest.MonkeyPatch) -> Hook:  # noqa: F811
    monkeypatch.setattr(get_settings(), "alert_webhook_url", chat_hook[0])
    monkeypatch.setattr(get_settings(), "alert_failure_min", 5)
    monkeypatch.setattr(get_settings(), "alert_failure_share", 0.5)
    return chat_hook


def _failed_sms(session: Session, failed: int, delivered: int) -> list[int]:
    campaign, now = data.campaign(session), utcnow()
    ids = []
    for i in range(failed + delivered):
        status = "failed" if i < failed else "delivered"
        row = data.attempt(
            session, data.case(session, campaign), "sms", now, status=status, completed_at=now
        )
        ids.append(row.id)
    return ids


def _dead_letter(client: redis.Redis, queue: str) -> None:
    client.zadd(f"{NS}:{queue}.XQ", {"m1": 1})
    client.hset(f"{NS}:{queue}.XQ.msgs", "m1", "{}")


def _ready_nobody_takes(client: redis.Redis, queue: str) -> None:
    client.rpush(f"{NS}:{queue}", "m2")
    client.hset(f"{NS}:{queue}.msgs", "m2", "{}")


def _audit_rows(session: Session, n: int) -> None:
    for i in range(n):
        audit.record(session, actor="test", action="case.changed", entity=f"case:{i}", data={})


def _kinds(alerts: list[dict[str, Any]], event: str) -> list[tuple[str, str]]:
    return sorted((a["kind"], a["key"]) for a in alerts if a["event"] == f"incident.{event}")


def _metric(engine: Engine, name: str, kind: str) -> float:
    for family in RecallCollector(engine, None, NS).collect():
        for sample in family.samples:
            if sample.name == name and sample.labels.get("kind") == kind:
                return float(sample.value)
    raise AssertionError(f"{name}{{kind={kind}}} missing")


def test_each_risk_event_is_one_incident_posted_once_and_ended_when_cleared(
    sessions: sessionmaker[Session], client: redis.Redis, hook: Hook, pg_engine: Engine
) -> None:
    _, alerts = hook
    with sessions.begin() as session:
        attempt_ids = _failed_sms(session, failed=6, delivered=2)
        _failed_email = data.attempt(
            session, data.case(session, data.campaign(session)), "email", utcnow(),
            status="failed", completed_at=utcnow(),
        )  # fmt: skip
        _audit_rows(session, 5)
        query = data.case(
            session, data.campaign(session), state="query_open",
            query_due_at=utcnow() - timedelta(hours=1),
        )  # fmt: skip
    with sessions.begin() as session:  # tampered after the fact, as an attacker would
        victim = session.scalars(select(AuditEvent).order_by(AuditEvent.id).offset(2)).first()
        assert victim is not None
        original_actor = victim.actor
        session.execute(
            update(AuditEvent).where(AuditEvent.id == victim.id).values(actor="mallory")
        )
    _dead_letter(client, "case")
    _ready_nobody_takes(client, "followup")
    jobs = Jobs(sessions, enqueue=lambda ids: None)
    jobs.incident_watch = IncidentWatch(sessions, client, NS)

    jobs.check_overdue_queries()  # flags the query overdue (the post is the incident's)
    assert jobs.check_incidents() == 5
    expected = [
        ("audit_broken", f"chain {victim.chain}"),
        ("dead_letters", "case"),
        ("failed_sends", "sms"),  # email: 1 failure, under the minimum of 5
        ("queries_overdue", "queries"),
        ("queue_stalled", "followup"),
    ]
    assert _kinds(alerts, "opened") == expected
    assert len(alerts) == 5, "one post per incident, none from the overdue check itself"
    assert "+1555" not in json.dumps(alerts) and "@example.com" not in json.dumps(alerts)
    assert _metric(pg_engine, "recall_incidents_total", "failed_sends") == 1
    assert _metric(pg_engine, "recall_incidents_open", "dead_letters") == 1

    # Still going on, and the repeat interval has not passed: nothing new.
    assert jobs.check_incidents() == 0
    assert len(alerts) == 5
    with sessions() as session:
        assert session.scalar(select(Incident).where(Incident.ended_at.is_(None)).limit(1))
        assert len(session.scalars(select(Incident)).all()) == 5

    # Cleared: the sends succeed on a retry, the letters are dealt with, the query answered,
    # the audit row restored.
    with sessions.begin() as session:
        session.execute(
            update(Attempt).where(Attempt.id.in_(attempt_ids)).values(status="delivered")
        )
        session.execute(update(Case).where(Case.id == query.id).values(state="awaiting_response"))
        session.execute(
            update(AuditEvent).where(AuditEvent.id == victim.id).values(actor=original_actor)
        )
    client.delete(f"{NS}:case.XQ", f"{NS}:case.XQ.msgs", f"{NS}:followup", f"{NS}:followup.msgs")
    assert jobs.check_incidents() == 5
    assert _kinds(alerts, "ended") == expected
    with sessions() as session:
        rows = session.scalars(select(Incident)).all()
        assert all(r.ended_at is not None and r.notifications == 2 for r in rows)
    assert _metric(pg_engine, "recall_incidents_open", "dead_letters") == 0
    assert _metric(pg_engine, "recall_incidents_total", "dead_letters") == 1


def test_without_a_broker_the_queue_incidents_are_left_alone(
    sessions: sessionmaker[Session], client: redis.Redis, hook: Hook
) -> None:
    _dead_letter(client, "case")
    assert IncidentWatch(sessions, client, NS).run() == 1
    # A watch without Redis (the embedded scheduler) neither sees nor ends them.
    assert IncidentWatch(sessions).run() == 0
    with sessions() as session:
        [row] = session.scalars(select(Incident)).all()
        assert row.kind == incidents.DEAD_LETTERS and row.ended_at is None
