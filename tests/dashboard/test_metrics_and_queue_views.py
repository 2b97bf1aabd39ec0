"""/metrics, and the queue figures the API and page show against a real RedisBroker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus exposition."""
    for line in text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    raise AssertionError(f"no {name}{labels} in /metrics")


def test_metrics_expose_cases_answers_errors_and_webhook_latency(
    client: TestClient, seeded: Any, web_env: Any
) -> None:
    from pipeline.models import Attempt, Case

    with Session(web_env) as session:  # two failed calls: a missed one and a refused one
        case = session.scalars(select(Case).where(Case.state == "awaiting_response")).first()
        assert case is not None
        for step, status, code in ((1, "undelivered", "no-answer"), (2, "failed", None)):
            session.add(Attempt(case_id=case.id, channel="voice", step=step, status=status,
                                error_code=code, cost_units=0.0))  # fmt: skip
        session.commit()
    client.post("/webhooks/twilio/sms", data={"Body": "YES"})
    text = client.get("/metrics").text
    assert sample(text, "recall_provider_errors_total", channel="voice", code="no-answer") == 1
    assert sample(text, "recall_provider_errors_total", channel="voice", code="none") == 1
    campaign = str(seeded.campaign_id)
    assert sample(text, "recall_cases", campaign=campaign, state="completed") == 2
    assert sample(text, "recall_cases", campaign=campaign, state="query_open") == 1
    assert sample(text, "recall_answers_total", kind="agree", channel="sms") == 3
    assert sample(text, "recall_webhook_latency_seconds_count", route="/webhooks/twilio/sms") >= 1
    for secret in seeded.secrets:
        assert secret not in text


@pytest.fixture
def redis_broker(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, web_env: Any
) -> Iterator[RedisBroker]:
    """The app reads this broker's namespace on the test's Redis db."""
    from pipeline.settings import get_settings

    namespace = f"dash{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("RECALL_BROKER_URL", redis_url)
    monkeypatch.setenv("RECALL_BROKER_NAMESPACE", namespace)
    get_settings.cache_clear()
    broker = RedisBroker(url=redis_url, namespace=namespace)
    yield broker
    broker.close()


def test_queue_api_and_page_equal_the_brokers_numbers(
    redis_broker: RedisBroker, client: TestClient, login: Callable[..., str]
) -> None:
    @dramatiq.actor(broker=redis_broker, queue_name="notify", actor_name="t.notify")
    def notify(n: int) -> None: ...

    for i in range(9):
        notify.send(i)
    notify.send_with_options(args=(99,), delay=3_600_000)
    consumer = redis_broker.consume("notify", prefetch=2, timeout=100)
    first, _second = next(consumer), next(consumer)
    consumer.nack(first)

    ns, r = redis_broker.namespace, redis_broker.client
    broker_says = {
        "ready": r.llen(f"{ns}:notify"),
        "in_progress": r.scard(f"{ns}:__acks__.{redis_broker.broker_id}.notify"),
        "dead": r.zcard(f"{ns}:notify.XQ"),
        "delayed": r.hlen(f"{ns}:notify.DQ.msgs"),
    }
    assert broker_says == {"ready": 7, "in_progress": 1, "dead": 1, "delayed": 1}
    login(client)
    (api,) = [q for q in client.get("/api/queues").json() if q["name"] == "notify"]
    assert {k: api[k] for k in broker_says} == broker_says
    page = client.get("/dashboard/queues").text
    row = page[page.index('data-queue="notify"') :]
    for field, value in broker_says.items():
        assert f'data-field="{field}">{value}<' in row
    workers = client.get("/api/workers").json()
    assert redis_broker.broker_id in {w["broker_id"] for w in workers}
    consumer.close()


def test_dead_letters_listed_requeued_and_deleted_from_the_page_with_an_audit(
    redis_broker: RedisBroker, client: TestClient, login: Callable[..., str], web_env: Any
) -> None:
    from actors.dead_letters import DeadLetterNotes
    from pipeline.models import AuditEvent

    redis_broker.add_middleware(DeadLetterNotes())

    @dramatiq.actor(
        broker=redis_broker, queue_name="followup", actor_name="t.followup", max_retries=0
    )
    def followup(n: int) -> None:
        raise KeyError(n)

    followup.send(1)
    followup.send(2)
    worker = dramatiq.Worker(redis_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    redis_broker.join("followup", timeout=10_000)
    worker.stop()

    csrf = login(client)
    page = client.get("/dashboard/queues").text
    assert "KeyError: 1" in page and "KeyError: 2" in page
    ids = re.findall(r"/dashboard/queues/followup/dead/([^/]+)/requeue", page)
    assert len(ids) == 2
    client.post(f"/dashboard/queues/followup/dead/{ids[0]}/requeue", data={"csrf_token": csrf})
    client.post(f"/dashboard/queues/followup/dead/{ids[1]}/delete", data={"csrf_token": csrf})
    assert (
        client.post(f"/dashboard/queues/followup/dead/{ids[1]}/delete", data={}).status_code == 403
    )
    (api,) = [q for q in client.get("/api/queues").json() if q["name"] == "followup"]
    assert (api["ready"], api["dead"]) == (1, 0)
    with Session(web_env) as session:
        audited = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("dead_letter.%"))
        ).all()
    assert sorted(audited) == ["dead_letter.delete", "dead_letter.requeue"]


def test_metrics_include_dramatiqs_own_series_from_worker_processes(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers running Dramatiq's Prometheus middleware write multiprocess files; the
    app's /metrics reads the same directory (here a worker stand-in writes one)."""
    import web.prometheus

    script = (
        "import prometheus_client as p;"
        "c = p.Counter('dramatiq_messages', 'x', ['queue_name', 'actor_name']);"
        "c.labels('notify', 'case.notify').inc(3)"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=30)
    monkeypatch.setattr(web.prometheus, "DRAMATIQ_PROM_DIR", str(tmp_path))
    text = client.get("/metrics").text
    assert sample(text, "dramatiq_messages_total", queue_name="notify") == 3
