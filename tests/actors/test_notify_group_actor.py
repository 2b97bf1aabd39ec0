"""``case.notify_group`` on the in-process broker, with SQLite and PostgreSQL: groups and
single ``case.notify`` messages side by side, redeliveries, and one bad case in a group."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import actors.channel
from actors.broker import broker
from actors.case import enqueue_notify, notify, notify_group
from actors.channel import SEND_GROUP_ACTORS
from actors.limits import limiter_for
from actors.workers import embedded_worker
from pipeline.cases.notify import notify_case
from pipeline.db import engine_for
from pipeline.models import Attempt, Case
from pipeline.settings import get_settings
from tests.pipeline_factories import NOW, RecordingChannel, make_campaign, make_case

QUEUES = ("case", "sms", "email", "voice")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The actors' database is the test's (a fresh schema); settings re-read."""
    fresh = {
        "sqlite": ("sqlite_url", "sqlite_engine"),
        "postgres": ("pg_database_url", "pg_engine"),
    }
    url_fixture, engine_fixture = fresh[request.param]
    request.getfixturevalue(engine_fixture)
    url = request.getfixturevalue(url_fixture)
    monkeypatch.setenv("RECALL_DATABASE_URL", url)
    monkeypatch.setenv("RECALL_SMS_PER_SECOND", "1000")
    monkeypatch.setenv("RECALL_NOTIFY_GROUP_SIZE", "4")
    get_settings.cache_clear()
    limiter_for.cache_clear()
    yield engine_for(url)
    engine_for(url).dispose()
    get_settings.cache_clear()
    limiter_for.cache_clear()


@pytest.fixture
def sms(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingChannel]:
    channel = RecordingChannel()
    monkeypatch.setattr(actors.channel, "channel_for", lambda kind: channel)
    broker.flush_all()
    with embedded_worker(threads=4):
        yield channel
    broker.flush_all()


def join_all(*, fail_fast: bool = True) -> None:
    for _ in range(3):  # a message may enqueue onto a queue already joined
        for queue in QUEUES:
            broker.join(queue, fail_fast=fail_fast)


def seed(engine: Engine, cases: int, policy: dict[str, object] | None = None) -> list[int]:
    with Session(engine) as session:
        campaign = make_campaign(session)
        if policy is not None:
            campaign.policy = policy
        ids = [make_case(session, campaign, n, due=NOW).id for n in range(cases)]
        session.commit()
    return ids


def sent_attempts(engine: Engine) -> int:
    with Session(engine) as session:
        query = select(func.count(Attempt.id)).where(Attempt.status == "sent")
        return int(session.scalar(query) or 0)


def test_groups_and_single_messages_coexist_and_send_each_step_once(
    db: Engine, sms: RecordingChannel
) -> None:
    ids = seed(db, 10)
    assert enqueue_notify(ids) == 10  # three groups of at most 4
    for case_id in ids[::3]:
        notify.send(case_id)  # in-flight single messages for some of the same cases
    notify_group.send(ids)  # and a redelivered group holding all of them
    join_all()
    assert len(sms.sent) == 10 == len(set(sms.sent)) == sent_attempts(db)
    with Session(db) as session:
        assert set(session.scalars(select(Case.state))) == {"awaiting_response"}


def test_a_group_with_a_bad_case_sends_the_others(db: Engine, sms: RecordingChannel) -> None:
    good = seed(db, 3)
    bad = seed(db, 1, policy={"default": [{"wait": 1}]})  # a corrupt stored ladder
    notify_group.send([*good, *bad])
    join_all(fail_fast=False)  # the bad case's own case.notify fails for good
    assert len(sms.sent) == 3 == sent_attempts(db)
    with Session(db) as session:
        assert session.get_one(Case, bad[0]).state == "pending"


def test_a_redelivered_group_sends_nothing_twice(db: Engine, sms: RecordingChannel) -> None:
    ids = seed(db, 4)
    notify_group.send(ids)
    join_all()
    notify_group.send(ids)
    notify_group.send(ids)
    join_all()
    assert len(sms.sent) == 4 == sent_attempts(db)


def test_sends_are_enqueued_after_the_commit(db: Engine, sms: RecordingChannel) -> None:
    ids = seed(db, 2)
    notify_group.send(ids)
    join_all()
    # Every send found its attempt: none was dropped as "not ours" for a missing row.
    with Session(db) as session:
        statuses = set(session.scalars(select(Attempt.status)))
    assert statuses == {"sent"} and len(sms.sent) == 2


def test_a_group_out_of_provider_slots_sends_the_rest_later_once(
    db: Engine,
    sms: RecordingChannel,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(get_settings(), "rate_limit_wait_seconds", 0.05)
    ids = seed(db, 3)
    with Session(db) as session:
        attempt_ids = []
        for case_id in ids:  # claim the steps as a notify group would
            result = notify_case(session, case_id, NOW, get_settings())
            assert result.attempt_id is not None
            attempt_ids.append(result.attempt_id)
        session.commit()
    monkeypatch.setattr(limiter_for("sms"), "limit", 1)  # one SMS a second
    caplog.set_level("INFO", logger="actors.channel")
    SEND_GROUP_ACTORS["sms"].send(attempt_ids)
    join_all()
    assert len(sms.sent) == 3 == len(set(sms.sent)) == sent_attempts(db)
    assert any("deferred=0" not in r.getMessage() for r in caplog.records if "group_sent" in r.msg)
