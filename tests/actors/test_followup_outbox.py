"""Follow-ups are an outbox: written with the answer that calls for them, so a worker that
dies after committing the answer but before enqueueing the confirmation loses nothing — the
scheduler hands the stranded follow-up on, and it is still sent exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import dramatiq
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import actors.channel
from actors.broker import broker
from pipeline.clock import utcnow
from pipeline.db import engine_for
from pipeline.followups.outbox import claim_stranded_followups, stage_followups
from pipeline.inbound.answers import process_inbound_event
from pipeline.models import Case, FollowUpSend, InboundEvent
from pipeline.settings import Settings, get_settings
from schedules.jobs import Jobs
from tests.pipeline_factories import RecordingChannel, make_campaign, make_case

SETTINGS = Settings(inbound_requeue_after_seconds=60)


def _answer(session: Session, body: str = "YES") -> tuple[int, int]:
    case = make_case(session, make_campaign(session))
    case.state = "awaiting_response"
    event = InboundEvent(
        provider="twilio",
        kind="sms",
        provider_event_id=f"SM-{case.id}",
        payload={"From": case.recipient.phone, "Body": body},
    )
    session.add(event)
    session.commit()
    return case.id, event.id


def _die_after_commit(engine: Engine, event_id: int) -> None:
    """What ``response.process`` does up to its commit — then the worker is gone."""
    with Session(engine) as session, session.begin():
        follow_ups = process_inbound_event(session, event_id)
        assert stage_followups(session, event_id, follow_ups, utcnow())


def test_staging_twice_writes_one_row_per_follow_up(engine: Engine) -> None:
    with Session(engine) as session:
        case_id, event_id = _answer(session)
    _die_after_commit(engine, event_id)
    with Session(engine) as session, session.begin():  # the event processed again
        assert process_inbound_event(session, event_id) == []
        rows = session.execute(select(FollowUpSend.case_id, FollowUpSend.kind, FollowUpSend.status))
        assert rows.all() == [(case_id, "confirmation", "claimed")]


def test_stranded_follow_ups_are_handed_on_once_per_interval(engine: Engine) -> None:
    with Session(engine) as session:
        _, event_id = _answer(session)
    _die_after_commit(engine, event_id)
    now = utcnow()
    with Session(engine) as session, session.begin():
        assert claim_stranded_followups(session, now, 10, settings=SETTINGS) == []  # in flight
        later = now + timedelta(seconds=61)
        [stranded] = claim_stranded_followups(session, later, 10, settings=SETTINGS)
        assert stranded.kind == "confirmation" and stranded.key.startswith(f"inbound:{event_id}:")
        soon = later + timedelta(seconds=30)
        assert claim_stranded_followups(session, soon, 10, settings=SETTINGS) == []
        row = session.scalars(select(FollowUpSend)).one()
        row.status = "sent"
        much_later = later + timedelta(hours=1)
        assert claim_stranded_followups(session, much_later, 10, settings=SETTINGS) == []


def test_an_agents_answer_is_never_resent_from_the_outbox(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        case = make_case(session, make_campaign(session))
        an_hour_ago = utcnow() - timedelta(hours=1)
        session.add(FollowUpSend(key="m-1", case_id=case.id, channel="sms", kind="agent_answer",
                                 status="claimed", claimed_at=an_hour_ago))  # fmt: skip
    with Session(engine) as session, session.begin():
        assert claim_stranded_followups(session, utcnow(), 10, settings=SETTINGS) == []


@pytest.fixture
def worker(
    sqlite_engine: Engine, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    monkeypatch.setenv("RECALL_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RECALL_SMS_PER_SECOND", "1000")
    monkeypatch.setenv("RECALL_INBOUND_REQUEUE_AFTER_SECONDS", "0.01")
    get_settings.cache_clear()
    broker.flush_all()
    running = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2, queues={"followup"})
    running.start()
    yield engine_for(sqlite_url)
    running.stop()
    broker.flush_all()
    get_settings.cache_clear()


def test_a_worker_dying_before_it_enqueues_loses_no_confirmation(
    worker: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sms = RecordingChannel()
    monkeypatch.setattr(actors.channel, "channel_for", lambda kind: sms)
    with Session(worker) as session:
        case_id, event_id = _answer(session)
    _die_after_commit(worker, event_id)
    jobs = Jobs(sessionmaker(bind=worker, expire_on_commit=False), enqueue=lambda ids: None)
    for _ in range(3):  # the job runs again and again; the confirmation goes out once
        time.sleep(0.02)  # longer than RECALL_INBOUND_REQUEUE_AFTER_SECONDS
        jobs.requeue_stranded_followups()
        broker.join("followup", fail_fast=True)
    assert [case for case, _ in sms.texts] == [case_id]
    with Session(worker) as session:
        assert session.get(Case, case_id).state == "completed"  # type: ignore[union-attr]
        sent = select(func.count()).where(FollowUpSend.status == "sent")
        assert session.scalar(sent) == 1
