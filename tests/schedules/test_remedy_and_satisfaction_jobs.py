"""The scheduler's two policy jobs, through a real in-process worker: an agreed case whose
remedy is late gets ONE reminder before the deadline, and a completed case ONE
satisfaction question, however often the jobs run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import dramatiq
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import actors.channel
from actors.broker import broker
from pipeline.clock import utcnow
from pipeline.db import engine_for
from pipeline.models import Campaign, FollowUpSend, SatisfactionAnswer
from pipeline.settings import get_settings
from schedules.jobs import Jobs
from tests.pipeline_factories import RecordingChannel, make_campaign, make_case


@pytest.fixture
def worker(
    sqlite_engine: Engine, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    monkeypatch.setenv("RECALL_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RECALL_SMS_PER_SECOND", "1000")
    monkeypatch.setenv("RECALL_SATISFACTION_DELAY_SECONDS", "0")
    get_settings.cache_clear()
    broker.flush_all()
    running = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2, queues={"followup"})
    running.start()
    yield engine_for(sqlite_url)
    running.stop()
    broker.flush_all()
    get_settings.cache_clear()


@pytest.fixture
def sms(monkeypatch: pytest.MonkeyPatch) -> RecordingChannel:
    channel = RecordingChannel()
    monkeypatch.setattr(actors.channel, "channel_for", lambda kind: channel)
    return channel


def _campaign(session: Session, deadline: datetime, **spec: object) -> Campaign:
    camp = make_campaign(session, completion="on_remedy")
    camp.spec, camp.deadline = dict(spec), deadline
    return camp


def _jobs(engine: Engine) -> Jobs:
    return Jobs(sessionmaker(bind=engine, expire_on_commit=False), enqueue=lambda ids: None)


def test_a_late_remedy_is_reminded_once_before_the_deadline(
    worker: Engine, sms: RecordingChannel
) -> None:
    now = utcnow()
    with Session(worker) as session:
        camp = _campaign(session, now + timedelta(days=10), remedy_reminder="3d")
        late, recent, done = (make_case(session, camp, n) for n in (1, 2, 3))
        for case, agreed_ago in ((late, 4), (recent, 1), (done, 5)):
            case.state, case.last_response = "agreed", "agree"
            case.last_response_at = now - timedelta(days=agreed_ago)
        done.state = "completed"
        expired = _campaign(session, now - timedelta(minutes=1), remedy_reminder="3d")
        gone = make_case(session, expired, 4)
        gone.state, gone.last_response_at = "agreed", now - timedelta(days=4)
        session.commit()
        late_id = late.id
    jobs = _jobs(worker)
    sent = [jobs.send_remedy_reminders() for _ in range(3)]
    broker.join("followup", fail_fast=True)
    assert sent == [1, 0, 0]
    [(case_id, text)] = sms.texts
    assert case_id == late_id
    assert text.startswith("A reminder about Battery recall: you agreed, and we have not yet")
    with Session(worker) as session:
        rows = session.execute(select(FollowUpSend.kind, FollowUpSend.status)).all()
    assert [tuple(row) for row in rows] == [("remedy_reminder", "sent")]


def test_a_completed_case_is_asked_once(worker: Engine, sms: RecordingChannel) -> None:
    with Session(worker) as session:
        asks = _campaign(session, utcnow() + timedelta(days=10), satisfaction=True)
        silent = _campaign(session, utcnow() + timedelta(days=10))
        for n, camp in enumerate((asks, asks, silent), start=1):
            case = make_case(session, camp, n)
            case.state, case.closed_at, case.answered_channel = "completed", utcnow(), "sms"
        make_case(session, asks, 9).state = "agreed"
        session.commit()
    jobs = _jobs(worker)
    sent = [jobs.ask_satisfaction() for _ in range(3)]
    broker.join("followup", fail_fast=True)
    assert sent == [2, 0, 0]
    assert len(sms.texts) == 2
    assert all("Reply with a number from 1 (not at all) to 5" in text for _, text in sms.texts)
    with Session(worker) as session:
        assert session.scalar(select(func.count()).select_from(SatisfactionAnswer)) == 2
