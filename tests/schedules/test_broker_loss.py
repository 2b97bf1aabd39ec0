"""Broker loss: noticed from the marker and Redis' run id, and repaired at once from the
database — cases, unhandled webhooks and unsent follow-ups are handed back in one tick."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.clock import utcnow
from pipeline.followups import outbox as followups
from pipeline.models import Case, FollowUpSend, InboundEvent, Incident
from pipeline.settings import get_settings
from schedules.broker_watch import BrokerWatch
from schedules.jobs import Jobs
from tests import sched_data as data
from tests.pipeline.campaigns.test_deadlines import chat_hook  # noqa: F401 - a fixture

pytestmark = pytest.mark.redis


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(bind=engine, expire_on_commit=False)


@pytest.fixture
def watch(redis_url: str) -> Iterator[BrokerWatch]:
    client = redis.Redis.from_url(redis_url)
    yield BrokerWatch(client, "recall-test")
    client.close()


def test_the_watch_reports_a_missing_marker_until_it_is_written(watch: BrokerWatch) -> None:
    assert watch.lost() == "marker_missing"
    watch.mark()
    assert watch.lost() is None
    watch.client.flushdb()
    assert watch.lost() == "marker_missing"


def test_the_watch_reports_another_servers_run_id(watch: BrokerWatch) -> None:
    watch.client.set(watch.key, "0" * 40)  # what a restarted server's marker looks like
    assert watch.lost() == "server_restarted"


class Sent:
    def __init__(self) -> None:
        self.cases: list[int] = []
        self.events: list[int] = []
        self.follow_ups: list[followups.StagedFollowUp] = []


def _in_flight(session: Session) -> dict[str, int]:
    """One of each kind of work a wiped broker strands, and some it must leave alone."""
    now = utcnow()
    campaign = data.campaign(session)
    paused = data.campaign(session, state="paused")
    lease = now + timedelta(minutes=10)
    rows = {
        "queued": data.case(session, campaign, next_due_at=now, enqueued_at=now),
        "leased": data.case(
            session, campaign, state="notifying", next_due_at=lease, enqueued_at=now
        ),
        "waiting": data.case(
            session, campaign, state="awaiting_response", next_due_at=lease, enqueued_at=None
        ),
        "paused": data.case(session, paused, next_due_at=now, enqueued_at=now),
    }
    event = InboundEvent(
        provider="twilio", kind="sms", provider_event_id="SMx", payload={}, received_at=now
    )
    handled = InboundEvent(
        provider="twilio", kind="sms", provider_event_id="SMy", payload={}, received_at=now
    )
    handled.handled_at = now
    follow_up = FollowUpSend(
        key="confirmation:1", case_id=rows["waiting"].id, channel="sms", kind="confirmation"
    )
    session.add_all([event, handled, follow_up])
    session.flush()
    return {**{name: row.id for name, row in rows.items()}, "event": event.id}


def test_a_lost_broker_gets_everything_in_flight_back_in_one_tick(
    sessions: sessionmaker[Session],
    watch: BrokerWatch,
    chat_hook: tuple[str, list[dict[str, Any]]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, alerts = chat_hook
    monkeypatch.setattr(get_settings(), "alert_webhook_url", url)
    with sessions.begin() as session:
        ids = _in_flight(session)
    sent = Sent()
    jobs = Jobs(
        sessions,
        enqueue=sent.cases.extend,
        send_process=sent.events.append,
        send_followup=sent.follow_ups.append,
        broker_watch=watch,
    )

    assert jobs.repair_broker_loss() == 4
    assert sorted(sent.cases) == sorted([ids["queued"], ids["leased"]])
    assert sent.events == [ids["event"]]
    assert [f.key for f in sent.follow_ups] == ["confirmation:1"]
    with sessions() as session:
        waiting = session.get(Case, ids["waiting"])
        assert waiting is not None and waiting.next_due_at > utcnow(), "its wait is kept"
    # Marked: the next tick finds nothing lost and sends nothing again.
    assert jobs.repair_broker_loss() == 0
    assert len(sent.cases) == 2
    # One incident, opened before the repair and ended by it, each posted once.
    assert [a["event"] for a in alerts] == ["incident.opened", "incident.ended"], "raised once"
    assert {a["kind"] for a in alerts} == {"broker_lost"}
    assert "re-enqueued 2 cases, 1 webhooks, 1 follow-ups" in alerts[1]["text"]
    with sessions() as session:
        [row] = session.scalars(select(Incident)).all()
        assert row.kind == "broker_lost" and row.ended_at is not None and row.notifications == 2


def test_a_first_start_with_nothing_in_flight_raises_no_incident(
    sessions: sessionmaker[Session],
    watch: BrokerWatch,
    chat_hook: tuple[str, list[dict[str, Any]]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, alerts = chat_hook
    monkeypatch.setattr(get_settings(), "alert_webhook_url", url)
    sent = Sent()
    jobs = Jobs(sessions, enqueue=sent.cases.extend, broker_watch=watch)
    assert watch.lost() == "marker_missing", "a new deployment's Redis has no marker"

    assert jobs.repair_broker_loss() == 0
    assert watch.lost() is None, "the marker is written all the same"
    assert alerts == []
    with sessions() as session:
        assert session.scalars(select(Incident)).all() == []


def test_without_a_watch_there_is_nothing_to_repair(sessions: sessionmaker[Session]) -> None:
    assert Jobs(sessions, enqueue=lambda ids: None).repair_broker_loss() == 0


def test_a_dead_workers_unacknowledged_messages_go_back_to_their_queue(redis_url: str) -> None:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    from schedules.broker_watch import DeadWorkerSweep

    namespace = "recall-test-dead"
    doomed = RedisBroker(url=redis_url, namespace=namespace, middleware=[])
    doomed.declare_queue("case")
    message = dramatiq.Message(
        queue_name="case", actor_name="case.notify", args=(1,), kwargs={}, options={}
    )
    doomed.enqueue(message)
    consumer = doomed.consume("case", prefetch=1, timeout=100)
    assert next(consumer) is not None  # fetched, never acknowledged: then the worker died
    ready = f"{namespace}:case"  # the list workers fetch from
    assert doomed.client.llen(ready) == 0
    sweep = DeadWorkerSweep(redis_url, namespace)
    assert sweep.run() == 0, "a worker with a fresh heartbeat is alive"
    heartbeats = f"{namespace}:__heartbeats__"
    doomed.client.zadd(heartbeats, {doomed.broker_id: 0})  # its last heartbeat, long ago

    assert sweep.run() == 1
    assert doomed.client.llen(ready) == 1, "the message is back for another worker"
    assert sweep.run() == 0, "and the dead worker is forgotten"


def test_a_dead_worker_still_clearing_is_reported_once(redis_url: str) -> None:
    from dramatiq.brokers.redis import RedisBroker

    from schedules.broker_watch import DeadWorkerSweep

    namespace = "recall-test-dead-once"
    doomed = RedisBroker(url=redis_url, namespace=namespace, middleware=[])
    heartbeats = f"{namespace}:__heartbeats__"
    sweep = DeadWorkerSweep(redis_url, namespace)
    doomed.client.sadd(f"{namespace}:__acks__.{doomed.broker_id}.case", "m1")
    doomed.client.zadd(heartbeats, {doomed.broker_id: 0})
    assert sweep.run() == 1
    # Seen dead again on the next round (it held acks on several queues): the same incident.
    doomed.client.zadd(heartbeats, {doomed.broker_id: 0})
    assert sweep.run() == 0, "one incident, one report"


def test_the_scheduler_process_watches_for_dead_workers_on_a_shared_broker(
    redis_url: str,
) -> None:
    """The sweep above only helps if the `recall scheduler` process runs it."""
    from pipeline.settings import Settings
    from schedules.broker_watch import DeadWorkerSweep
    from schedules.runner import process_jobs

    shared = Settings(_env_file=None, broker_url=redis_url)  # type: ignore[call-arg]
    jobs = process_jobs(shared)
    assert isinstance(jobs.dead_workers, DeadWorkerSweep)
    assert jobs.broker_watch is not None and jobs.inbound_buffer is not None
    alone = process_jobs(Settings(_env_file=None))  # type: ignore[call-arg]
    assert alone.dead_workers is None and alone.broker_watch is None


def test_dead_workers_are_one_incident_opened_and_ended_at_once(
    sessions: sessionmaker[Session],
    redis_url: str,
    chat_hook: tuple[str, list[dict[str, Any]]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dramatiq.brokers.redis import RedisBroker

    from schedules.broker_watch import DeadWorkerSweep

    url, alerts = chat_hook
    monkeypatch.setattr(get_settings(), "alert_webhook_url", url)
    namespace = "recall-test-dead-incident"
    doomed = RedisBroker(url=redis_url, namespace=namespace, middleware=[])
    doomed.client.sadd(f"{namespace}:__acks__.{doomed.broker_id}.case", "m1")
    doomed.client.zadd(f"{namespace}:__heartbeats__", {doomed.broker_id: 0})
    jobs = Jobs(sessions, dead_workers=DeadWorkerSweep(redis_url, namespace))

    assert jobs.requeue_dead_workers_messages() == 1
    assert jobs.requeue_dead_workers_messages() == 0, "handled: nothing new"
    assert [a["event"] for a in alerts] == ["incident.opened", "incident.ended"]
    assert {a["kind"] for a in alerts} == {"workers_dead"}
    with sessions() as session:
        [row] = session.scalars(select(Incident)).all()
        assert row.kind == "workers_dead" and row.ended_at is not None
