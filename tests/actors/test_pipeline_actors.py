"""The pipeline's actors on the in-process broker: fan-out → notify → send, end to end,
with a recording channel at the provider edge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import dramatiq
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import actors.channel
from actors.broker import broker
from actors.campaign import enqueue_due, fan_out
from actors.limits import limiter_for, provider_slot
from actors.retry import RateLimited, retry_when
from actors.workers import embedded_worker
from channels.base import ChannelError, FailureKind, SendFailure
from pipeline.db import engine_for
from pipeline.models import Attempt, Case
from pipeline.settings import get_settings
from tests.pipeline_factories import NOW, RecordingChannel, make_campaign, make_case

QUEUES = ("campaign", "case", "sms", "email", "voice", "followup")


@pytest.fixture
def db(sqlite_engine: Engine, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The actors' database is the test's; settings re-read from the environment."""
    monkeypatch.setenv("RECALL_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RECALL_SEND_INLINE_WAIT_SECONDS", "0")
    monkeypatch.setenv("RECALL_SMS_PER_SECOND", "1000")
    get_settings.cache_clear()
    limiter_for.cache_clear()
    yield engine_for(sqlite_url)
    get_settings.cache_clear()
    limiter_for.cache_clear()


@pytest.fixture
def worker() -> Iterator[dramatiq.Worker]:
    """The embedded mode's worker: threads in this process on the in-process broker."""
    broker.flush_all()
    with embedded_worker(threads=4) as running:
        yield running
    broker.flush_all()


def join_all() -> None:
    for _ in range(3):  # a message may enqueue onto a queue already joined
        for queue in QUEUES:
            broker.join(queue, fail_fast=True)


def seed(engine: Engine, cases: int) -> int:
    with Session(engine) as session:
        campaign = make_campaign(session)
        for n in range(cases):
            make_case(session, campaign, n, due=NOW - timedelta(minutes=1))
        session.commit()
        return campaign.id


def test_fan_out_sends_every_case_its_first_step_once(
    db: Engine, worker: dramatiq.Worker, sms: RecordingChannel
) -> None:
    campaign_id = seed(db, 40)
    fan_out.send(campaign_id)
    fan_out.send(campaign_id)  # a duplicate launch message changes nothing
    join_all()
    with Session(db) as session:
        states = session.scalars(select(Case.state)).all()
        assert set(states) == {"awaiting_response"} and len(states) == 40
        assert session.scalar(select(func.count(Attempt.id)).where(Attempt.status == "sent")) == 40
    assert len(sms.sent) == 40 == len(set(sms.sent))


def test_lost_messages_are_recovered_by_the_sweep(
    db: Engine, worker: dramatiq.Worker, sms: RecordingChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_id = seed(db, 10)
    with Session(db) as session:  # a fan-out whose messages never reached the broker
        session.execute(Case.__table__.update().values(enqueued_at=NOW - timedelta(hours=1)))
        session.commit()
    assert enqueue_due(campaign_id=campaign_id) == 10
    join_all()
    assert enqueue_due(campaign_id=campaign_id) == 0
    assert len(sms.sent) == 10


def test_transient_provider_errors_are_retried_by_dramatiq(
    db: Engine, worker: dramatiq.Worker, sms: RecordingChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    for actor in (actors.channel.send_sms,):
        monkeypatch.setitem(actor.options, "min_backoff", 10)
        monkeypatch.setitem(actor.options, "max_backoff", 20)
    transient = ChannelError(SendFailure(FailureKind.TRANSIENT, "503", "unavailable"))
    sms.script = [transient] * 4  # more than one message's in-process tries
    campaign_id = seed(db, 1)
    fan_out.send(campaign_id)
    join_all()
    with Session(db) as session:
        attempt = session.scalars(select(Attempt)).one()
        assert (attempt.status, attempt.tries) == ("sent", 2)
    assert len(sms.sent) == 1


def test_retry_policy_never_retries_programming_errors() -> None:
    transient = ChannelError(SendFailure(FailureKind.TRANSIENT, "503", "unavailable"))
    assert retry_when(0, transient)
    assert not retry_when(get_settings().send_max_retries, transient)
    assert not retry_when(0, KeyError("oops"))
    assert not retry_when(0, ValueError("bad data"))


def test_calls_in_progress_are_limited(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECALL_CONCURRENT_CALLS", "2")
    get_settings.cache_clear()
    limiter_for.cache_clear()
    with (
        provider_slot("voice", wait_seconds=0),
        provider_slot("voice", wait_seconds=0),
        pytest.raises(RateLimited),
        provider_slot("voice", wait_seconds=0),
    ):
        pass
    with provider_slot("voice", wait_seconds=0):  # released on leaving the block
        pass


def test_sms_per_second_is_held_to_the_limit(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECALL_SMS_PER_SECOND", "5")
    get_settings.cache_clear()
    limiter_for.cache_clear()
    started = time.monotonic()
    for _ in range(11):
        with provider_slot("sms", wait_seconds=5):
            pass
    # 11 slots at 5 per (calendar) second need at least two second boundaries.
    assert time.monotonic() - started > 1.0


@pytest.mark.parametrize(("sender", "per_second"), [("long_code", 1), ("toll_free", 3)])
def test_the_sms_limit_counts_segments_for_the_sender_type(
    db: Engine, monkeypatch: pytest.MonkeyPatch, sender: str, per_second: int
) -> None:
    import time_machine

    from actors.limits import charge_segments

    monkeypatch.delenv("RECALL_SMS_PER_SECOND", raising=False)
    monkeypatch.setenv("RECALL_SMS_SENDER_TYPE", sender)
    get_settings.cache_clear()
    limiter_for.cache_clear()
    # One fixed second of its own: the limiter counts calendar seconds.
    with time_machine.travel(NOW + timedelta(days=3650, seconds=per_second), tick=False):
        with provider_slot("sms", wait_seconds=0):  # a message of `per_second` segments
            pass
        assert charge_segments(per_second, wait_seconds=0) == per_second - 1
        with pytest.raises(RateLimited), provider_slot("sms", wait_seconds=0):
            pass  # the second's segments are spent
        assert charge_segments(2, wait_seconds=0) == 0
    get_settings.cache_clear()
    limiter_for.cache_clear()


def test_follow_ups_are_sent_once_per_key(
    db: Engine, worker: dramatiq.Worker, sms: RecordingChannel
) -> None:
    from actors.channel import send_followup
    from pipeline.models import FollowUpSend

    with Session(db) as session:
        case = make_case(session, make_campaign(session))
        session.commit()
        case_id = case.id
    send_followup.send(case_id, "sms", "confirmation", None, "inbound:1:confirmation")
    send_followup.send(case_id, "sms", "confirmation", None, "inbound:1:confirmation")
    send_followup.send(case_id, "sms", "agent_answer", "Bring it to any store.")
    join_all()
    assert [case for case, _ in sms.texts] == [case_id, case_id]
    assert any("Bring it to any store." in body for _, body in sms.texts)
    with Session(db) as session:
        rows = session.scalars(select(FollowUpSend).order_by(FollowUpSend.kind)).all()
        assert [(row.kind, row.status) for row in rows] == [
            ("agent_answer", "sent"),
            ("confirmation", "sent"),
        ]
