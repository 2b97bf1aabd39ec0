"""Group commit (``web.ingest``): what every waiting webhook request is promised.

Each test drives an ``EventIngestor`` on the ``engine`` fixture (SQLite and PostgreSQL) with
the in-process broker; a writer blocked on a ``threading.Event`` stands in for a slow or
hung database, so nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError

import web.ingest
from pipeline.db import make_engine
from pipeline.inbound.event_store import NewEvent
from pipeline.settings import Settings
from tests.web.support import PUBLIC_URL, TWILIO_TOKEN, enqueued, stored, stub_broker
from tests.web.support import twilio_headers as signed
from web.app import create_app
from web.ingest import EventIngestor, IngestUnavailable


def sms(sid: str, body: str = "YES") -> NewEvent:
    return NewEvent("twilio", "sms", sid, {"MessageSid": sid, "Body": body})


@pytest.fixture(autouse=True)
def empty_broker() -> Iterator[None]:
    stub_broker().flush_all()
    yield
    stub_broker().flush_all()


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[list[NewEvent]]]:
    """Every batch the writer is handed, as lists of the submissions' events."""
    seen: list[list[list[NewEvent]]] = []
    real = web.ingest.write_batch

    def spy(engine: Engine, submissions: list[list[NewEvent]], *buffer: Any) -> list[Any]:
        seen.append(submissions)
        return real(engine, submissions, *buffer)

    monkeypatch.setattr(web.ingest, "write_batch", spy)
    return seen


@pytest.fixture
def blocked_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The store waits until the returned event is set (at teardown at the latest, which
    then waits for the writer thread to finish, so it never outlives the test)."""
    release, started, finished = threading.Event(), threading.Event(), threading.Event()
    real = web.ingest.store_events

    def slow(engine: Engine, events: list[NewEvent]) -> dict[str, int]:
        started.set()
        try:
            release.wait()
            return real(engine, events)
        finally:
            finished.set()

    monkeypatch.setattr(web.ingest, "store_events", slow)
    yield release
    release.set()
    if started.is_set():
        finished.wait(timeout=30)


async def submit_all(ingestor: EventIngestor, *submissions: list[NewEvent]) -> list[Any]:
    results = await asyncio.gather(
        *(ingestor.submit(events) for events in submissions), return_exceptions=True
    )
    await ingestor.close()
    return results


def test_concurrent_requests_share_one_batch_and_duplicates_enqueue_once(
    engine: Engine, batches: list[list[list[NewEvent]]]
) -> None:
    ingestor = EventIngestor(lambda: engine)
    submissions = [[sms("SM1")], [sms("SM2"), sms("SM3")], [sms("SM1", "retried")], [sms("SM2")]]
    results = asyncio.run(submit_all(ingestor, *submissions))

    assert len(batches) == 1 and len(batches[0]) == 4  # one INSERT for all four requests
    rows = {event.provider_event_id: event for event in stored(engine)}
    assert sorted(rows) == ["SM1", "SM2", "SM3"]
    assert rows["SM1"].payload["Body"] == "YES"  # the first to arrive is the one stored
    # Each new row is handed on once, and to the request that brought it first.
    assert results == [[rows["SM1"].id], [rows["SM2"].id, rows["SM3"].id], [], []]
    assert sorted(enqueued()) == sorted([[row.id] for row in rows.values()])


def test_known_events_are_stored_and_enqueued_again_never(engine: Engine) -> None:
    asyncio.run(submit_all(EventIngestor(lambda: engine), [sms("SM1")]))
    [replayed] = asyncio.run(submit_all(EventIngestor(lambda: engine), [sms("SM1")]))
    assert replayed == []
    assert len(stored(engine)) == 1 and len(enqueued()) == 1


def test_messages_leave_after_the_commit_and_before_the_answer(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[list[str], bool]] = []
    answered: list[asyncio.Future[list[int]]] = []
    real = web.ingest.enqueue_processing

    def check(event_ids: list[int]) -> None:
        # A new session already sees the rows: they are committed.
        visible = [event.provider_event_id for event in stored(engine)]
        seen.append((visible, any(future.done() for future in answered)))
        real(event_ids)

    monkeypatch.setattr(web.ingest, "enqueue_processing", check)

    async def scenario() -> None:
        ingestor = EventIngestor(lambda: engine)
        answered.append(asyncio.ensure_future(ingestor.submit([sms("SM1")])))
        await answered[0]
        await ingestor.close()

    asyncio.run(scenario())
    assert seen == [(["SM1"], False)]


def test_a_broker_failure_after_the_commit_still_answers(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def redis_down(event_ids: list[int]) -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(web.ingest, "enqueue_processing", redis_down)
    [result] = asyncio.run(submit_all(EventIngestor(lambda: engine), [sms("SM1")]))
    [event] = stored(engine)
    assert result == [event.id]
    # Stored and unhandled: the sweep hands it to a worker later.
    assert event.handled_at is None and enqueued() == []


def test_a_broker_failure_over_http_is_still_a_200(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def redis_down(event_ids: list[int]) -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(web.ingest, "enqueue_processing", redis_down)
    settings = Settings(public_url=PUBLIC_URL, twilio_auth_token=TWILIO_TOKEN)
    params = {"MessageSid": "SM1", "From": "+15551230001", "Body": "YES"}
    headers = signed(f"{PUBLIC_URL}/webhooks/twilio/sms", params)
    with TestClient(create_app(settings=settings, engine=engine)) as client:
        response = client.post("/webhooks/twilio/sms", data=params, headers=headers)
    assert response.status_code == 200
    assert [event.provider_event_id for event in stored(engine)] == ["SM1"]


def test_a_value_the_database_refuses_fails_only_its_own_request(
    pg_engine: Engine, batches: list[list[list[NewEvent]]]
) -> None:
    too_long = "CA" + "x" * 62 + ":recording:" + "RE" + "y" * 62  # over the column's 128
    ingestor = EventIngestor(lambda: pg_engine)
    good, bad = asyncio.run(submit_all(ingestor, [sms("SM1")], [sms(too_long)]))
    # Refused as one batch, then stored request by request.
    assert [len(batch) for batch in batches] == [2, 1, 1]
    assert isinstance(bad, DataError)
    [event] = stored(pg_engine)
    assert good == [event.id] and enqueued() == [[event.id]]


def test_a_database_that_is_down_fails_every_request_of_the_batch() -> None:
    dead = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    ingestor = EventIngestor(lambda: dead)
    results = asyncio.run(submit_all(ingestor, [sms("SM1")], [sms("SM2")]))
    assert all(isinstance(result, OperationalError) for result in results)
    assert enqueued() == []


def test_a_hung_store_answers_unavailable_and_the_events_are_kept(
    engine: Engine, blocked_store: threading.Event
) -> None:
    async def scenario() -> BaseException | list[int]:
        ingestor = EventIngestor(lambda: engine, wait_seconds=0.05)
        [result] = await asyncio.gather(ingestor.submit([sms("SM1")]), return_exceptions=True)
        blocked_store.set()
        await ingestor.close()
        return result

    assert isinstance(asyncio.run(scenario()), IngestUnavailable)
    # Written once the database answered: the provider's retry is then a duplicate.
    assert [event.provider_event_id for event in stored(engine)] == ["SM1"]
    assert len(enqueued()) == 1


def test_shutdown_writes_what_is_pending_then_refuses(engine: Engine) -> None:
    async def scenario() -> tuple[list[Any], BaseException | None]:
        ingestor = EventIngestor(lambda: engine)
        waiting = [asyncio.ensure_future(ingestor.submit([sms(f"SM{i}")])) for i in range(3)]
        await asyncio.sleep(0)  # the requests hand their events over
        await ingestor.close()
        late = await asyncio.gather(ingestor.submit([sms("SM9")]), return_exceptions=True)
        return [w.result() for w in waiting], late[0]

    answers, late = asyncio.run(scenario())
    assert all(len(ids) == 1 for ids in answers)
    assert isinstance(late, IngestUnavailable)
    assert sorted(e.provider_event_id for e in stored(engine)) == ["SM0", "SM1", "SM2"]


def test_shutdown_that_cannot_drain_fails_the_waiting_requests(
    engine: Engine, blocked_store: threading.Event
) -> None:
    async def scenario() -> list[Any]:
        ingestor = EventIngestor(lambda: engine)
        waiting = [asyncio.ensure_future(ingestor.submit([sms(f"SM{i}")])) for i in range(2)]
        await asyncio.sleep(0)
        await ingestor.close(timeout=0.05)
        return await asyncio.gather(*waiting, return_exceptions=True)

    results = asyncio.run(scenario())
    assert all(isinstance(result, IngestUnavailable) for result in results)


def test_the_app_closes_its_ingestor_on_shutdown(engine: Engine) -> None:
    settings = Settings(public_url=PUBLIC_URL, twilio_auth_token=TWILIO_TOKEN)
    app = create_app(settings=settings, engine=engine)
    params = {"MessageSid": "SM1", "From": "+15551230001", "Body": "YES"}
    headers = signed(f"{PUBLIC_URL}/webhooks/twilio/sms", params)
    with TestClient(app) as client:
        assert client.post("/webhooks/twilio/sms", data=params, headers=headers).status_code == 200
        ingestor = app.state.ingestor
    assert app.state.ingestor is None
    with pytest.raises(IngestUnavailable):
        asyncio.run(ingestor.submit([sms("SM2")]))
