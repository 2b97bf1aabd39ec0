"""``response.process`` end to end on the in-process broker: a signed SMS reply arrives at
the webhook, a worker applies it to the case and the confirmation goes out once — however
often the provider retries the webhook."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from actors.broker import broker
from actors.response import process
from pipeline.db import engine_for
from pipeline.models import Case, InboundEvent
from pipeline.settings import Settings, get_settings
from tests.pipeline_factories import RecordingChannel, make_campaign, make_case
from tests.web.support import PUBLIC_URL, TWILIO_TOKEN, twilio_headers
from web.app import create_app

QUEUES = ("response", "followup")


@pytest.fixture
def db(sqlite_engine: Engine, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("RECALL_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RECALL_SMS_PER_SECOND", "1000")
    get_settings.cache_clear()
    yield engine_for(sqlite_url)
    get_settings.cache_clear()


@pytest.fixture
def worker() -> Iterator[dramatiq.Worker]:
    broker.flush_all()
    running = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2, queues=set(QUEUES))
    running.start()
    yield running
    running.stop()
    broker.flush_all()


def join() -> None:
    for _ in range(2):  # processing a response enqueues a follow-up
        for queue in QUEUES:
            broker.join(queue, fail_fast=True)


def awaiting_case(engine: Engine) -> tuple[int, str]:
    with Session(engine) as session:
        case = make_case(session, make_campaign(session))
        case.state = "awaiting_response"
        session.commit()
        return case.id, str(case.recipient.phone)


def test_sms_reply_agrees_and_is_confirmed_once(
    db: Engine, worker: dramatiq.Worker, sms: RecordingChannel
) -> None:
    case_id, phone = awaiting_case(db)
    app = create_app(settings=Settings(public_url=PUBLIC_URL, twilio_auth_token=TWILIO_TOKEN))
    reply = {"MessageSid": "SM" + "ab" * 16, "From": phone, "To": "+15005550006", "Body": "Yes!"}
    headers = twilio_headers(f"{PUBLIC_URL}/webhooks/twilio/sms", reply)
    with TestClient(app) as client:
        for _ in range(3):  # Twilio retrying
            assert (
                client.post("/webhooks/twilio/sms", data=reply, headers=headers).status_code == 200
            )
    join()
    with Session(db) as session:
        case = session.get(Case, case_id)
        assert case is not None and case.state == "completed" and case.last_response == "agree"
        [event] = session.query(InboundEvent).all()
        assert event.handled_at is not None
    assert [case for case, _ in sms.texts] == [case_id]  # one confirmation


def test_processing_an_event_twice_sends_nothing_twice(
    db: Engine, worker: dramatiq.Worker, sms: RecordingChannel
) -> None:
    case_id, phone = awaiting_case(db)
    with Session(db) as session:
        event = InboundEvent(
            provider="twilio",
            kind="sms",
            provider_event_id="SM-x",
            payload={"From": phone, "Body": "NO"},
        )
        session.add(event)
        session.commit()
        event_id = event.id
    process.send(event_id)
    process.send(event_id)  # a redelivered message
    join()
    with Session(db) as session:
        assert session.get(Case, case_id).state == "refused"  # type: ignore[union-attr]
    assert len(sms.texts) == 1
