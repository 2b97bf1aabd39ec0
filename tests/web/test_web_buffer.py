"""The durable webhook buffer: with the database away, a genuine event is kept in Redis and
the request answered; the drain stores it exactly once when the database is back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from actors.inbound_buffer import EventBuffer, decode, drain_all, encode
from pipeline.db import make_engine
from pipeline.inbound.event_store import NewEvent
from pipeline.models import InboundEvent
from web.ingest import write_batch

pytestmark = pytest.mark.redis

# Nothing listens on port 1: connecting fails at once, as during a restart.
DOWN = "postgresql+psycopg://postgres@127.0.0.1:1/recall"


@pytest.fixture
def buffer(redis_url: str) -> Iterator[EventBuffer]:
    client = redis.Redis.from_url(redis_url)
    yield EventBuffer(client, "recall-test:inbound:buffer")
    client.close()


def _sms(n: int) -> NewEvent:
    return NewEvent("twilio", "sms", f"SM{n:032d}", {"Body": f"YES {n}", "MessageSid": f"SM{n}"})


def _stored(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(InboundEvent)) or 0)


def test_events_arriving_while_the_database_is_down_are_kept_and_stored_once(
    pg_engine: Engine, buffer: EventBuffer
) -> None:
    down = make_engine(DOWN)
    outcomes = write_batch(down, [[_sms(1), _sms(2)], [_sms(2), _sms(3)]], buffer)
    assert outcomes == [[], []], "answered as stored, nothing enqueued yet"
    assert buffer.size() == 4
    # Buffered again (a retried webhook), and drained twice: stored once each.
    write_batch(down, [[_sms(1)]], buffer)
    assert drain_all(buffer, pg_engine) == 5
    assert drain_all(buffer, pg_engine) == 0
    assert _stored(pg_engine) == 3
    assert buffer.size() == 0


def test_without_a_buffer_a_down_database_is_still_an_error(pg_engine: Engine) -> None:
    [outcome] = write_batch(make_engine(DOWN), [[_sms(1)]], None)
    assert isinstance(outcome, Exception)


def test_a_drain_while_the_database_is_still_down_keeps_every_entry(buffer: EventBuffer) -> None:
    buffer.append([_sms(1)])
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error, whichever it is
        drain_all(buffer, make_engine(DOWN))
    assert buffer.size() == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(payload=st.dictionaries(st.text(), json_values, max_size=5), outcome=st.none() | st.text())
def test_an_event_survives_the_buffer_unchanged(
    payload: dict[str, Any], outcome: str | None
) -> None:
    event = NewEvent("sendgrid", "email_event", "abc", payload, outcome=outcome)
    assert decode(encode(event)) == event
