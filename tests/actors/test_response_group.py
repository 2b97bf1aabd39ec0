"""``response.process_group`` on PostgreSQL: a group of stored events in one transaction, each
in a savepoint. An event that fails is rolled back alone and handed on singly; a redelivered
group records and stages nothing twice; group and single messages for the same events
coexist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from actors.broker import broker
from actors.response import GROUP_SIZE, enqueue_processing, process, process_group
from pipeline.db import engine_for
from pipeline.models import Case, FollowUpSend, InboundEvent, Response
from pipeline.settings import get_settings
from tests.pipeline_factories import RecordingChannel, make_campaign, make_case

QUEUES = ("response", "followup")


@pytest.fixture
def db(
    pg_engine: Engine, pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    monkeypatch.setenv("RECALL_DATABASE_URL", pg_database_url)
    monkeypatch.setenv("RECALL_SMS_PER_SECOND", "1000")
    get_settings.cache_clear()
    broker.flush_all()
    yield engine_for(pg_database_url)
    broker.flush_all()
    get_settings.cache_clear()


def answers(engine: Engine, count: int, body: str = "YES") -> list[tuple[int, int]]:
    """``count`` cases awaiting an answer, each with a stored SMS reply: (case id, event id)."""
    with Session(engine) as session:
        campaign = make_campaign(session)
        cases = [make_case(session, campaign, n) for n in range(1, count + 1)]
        events = []
        for case in cases:
            case.state = "awaiting_response"
            events.append(
                InboundEvent(
                    provider="twilio",
                    kind="sms",
                    provider_event_id=f"SM-{case.id}",
                    payload={"From": case.recipient.phone, "Body": body},
                )
            )
        session.add_all(events)
        session.commit()
        return [(case.id, event.id) for case, event in zip(cases, events, strict=True)]


def early_status(engine: Engine) -> int:
    """A delivery status for a send not recorded yet: handling it raises ``NotMatchedYet``."""
    with Session(engine) as session:
        event = InboundEvent(
            provider="twilio",
            kind="sms_status",
            provider_event_id="SM-early:delivered",
            payload={"MessageSid": "SM-early", "MessageStatus": "delivered"},
        )
        session.add(event)
        session.commit()
        return event.id


def waiting(actor_name: str) -> list[list[Any]]:
    messages = [
        dramatiq.Message.decode(data)
        for queue in broker.queues.values()  # type: ignore[attr-defined]
        for data in list(queue.queue)
    ]
    return [list(m.args) for m in messages if m.actor_name == actor_name]


def states(engine: Engine, case_ids: list[int]) -> list[str]:
    with Session(engine) as session:
        query = select(Case.state).where(Case.id.in_(case_ids)).order_by(Case.id)
        return list(session.scalars(query))


def count(engine: Engine, model: type[Any]) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def run_workers() -> None:
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2, queues=set(QUEUES))
    worker.start()
    try:
        for _ in range(2):  # processing a response enqueues a follow-up
            for queue in QUEUES:
                broker.join(queue, fail_fast=True)
    finally:
        worker.stop()


def test_a_failing_event_is_handed_on_singly_and_the_others_commit(db: Engine) -> None:
    pairs = answers(db, 3)
    bad = early_status(db)
    event_ids = [pairs[0][1], bad, pairs[1][1], pairs[2][1]]

    process_group(event_ids)

    assert states(db, [case_id for case_id, _ in pairs]) == ["completed"] * 3
    with Session(db) as session:
        assert session.get(InboundEvent, bad).handled_at is None  # type: ignore[union-attr]
    assert waiting("response.process") == [[bad]]  # its retries are its own
    keys = sorted(args[4] for args in waiting("channel.send_followup"))
    assert keys == sorted(f"inbound:{e}:{c}:sms:confirmation" for c, e in pairs)


def test_a_redelivered_group_records_and_stages_nothing_twice(
    db: Engine, sms: RecordingChannel
) -> None:
    pairs = answers(db, 4)
    event_ids = [event_id for _, event_id in pairs]
    process_group.send(event_ids)
    process_group.send(event_ids)  # the same message delivered again

    run_workers()

    assert count(db, Response) == 4 and count(db, FollowUpSend) == 4
    assert sorted(case_id for case_id, _ in sms.texts) == sorted(c for c, _ in pairs)


def test_group_and_single_messages_for_the_same_events_coexist(
    db: Engine, sms: RecordingChannel
) -> None:
    pairs = answers(db, 3, body="NO")
    event_ids = [event_id for _, event_id in pairs]
    process.send(event_ids[1])  # e.g. re-enqueued by the sweep
    process_group.send(event_ids)

    run_workers()

    assert states(db, [case_id for case_id, _ in pairs]) == ["refused"] * 3
    assert count(db, Response) == 3
    assert sorted(case_id for case_id, _ in sms.texts) == sorted(c for c, _ in pairs)


def test_events_are_enqueued_in_groups_and_a_lone_one_singly(db: Engine) -> None:
    event_ids = list(range(1, 2 * GROUP_SIZE + 6))
    enqueue_processing(event_ids)
    enqueue_processing([999])

    groups = waiting("response.process_group")
    assert sorted(id_ for [group] in groups for id_ in group) == event_ids
    assert max(len(group) for [group] in groups) == GROUP_SIZE
    assert waiting("response.process") == [[999]]
