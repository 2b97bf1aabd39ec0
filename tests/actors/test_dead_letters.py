"""actors.dead_letters on the in-process broker and on Redis: list, requeue, delete."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from actors.broker import make_broker
from actors.dead_letters import delete_dead_letter, list_dead_letters, requeue_dead_letter
from pipeline.settings import Settings


@pytest.fixture(params=["stub", "redis"])
def broker(request: pytest.FixtureRequest) -> Iterator[dramatiq.Broker]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made = make_broker(Settings(broker_url=url, broker_namespace="recall-test-dlq"))
    yield made
    made.close()


def test_dead_letters_can_be_seen_requeued_and_deleted(broker: dramatiq.Broker) -> None:
    outcomes = {"fail": True}
    seen: list[int] = []

    @dramatiq.actor(actor_name="test.flaky", queue_name="flaky", max_retries=0, broker=broker)
    def flaky(n: int) -> None:
        if outcomes["fail"]:
            raise ValueError(f"bad input {n}")
        seen.append(n)

    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        flaky.send(1)
        flaky.send(2)
        broker.join("flaky", fail_fast=False) if isinstance(broker, StubBroker) else broker.join(
            "flaky"
        )
        worker.join()
        letters = list_dead_letters("flaky", broker=broker)
        assert sorted(letter.args for letter in letters) == [(1,), (2,)]
        assert {letter.actor for letter in letters} == {"test.flaky"}
        assert all("ValueError: bad input" in letter.error for letter in letters)
        outcomes["fail"] = False
        first, second = letters
        assert requeue_dead_letter("flaky", first.id, broker=broker)
        assert delete_dead_letter("flaky", second.id, broker=broker)
        assert not delete_dead_letter("flaky", second.id, broker=broker)
        broker.join("flaky")
        worker.join()
        assert seen == [first.args[0]]
        assert list_dead_letters("flaky", broker=broker) == []
    finally:
        worker.stop()
