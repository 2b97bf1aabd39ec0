"""`recall worker`: refuses to start without a shared broker; stops gracefully on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RECALL = str(Path(sys.executable).with_name("recall"))


def test_worker_without_a_broker_url_exits_with_a_reason() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RECALL_BROKER_URL"}
    done = subprocess.run([RECALL, "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "RECALL_BROKER_URL is not set" in done.stderr


@pytest.mark.redis
@pytest.mark.slow
def test_worker_joins_the_broker_and_stops_gracefully_on_sigterm(
    redis_url: str, tmp_path: Path
) -> None:
    import redis

    env = {
        **os.environ,
        "RECALL_BROKER_URL": redis_url,
        "RECALL_BROKER_NAMESPACE": "recall-cli-w",
        "RECALL_DATABASE_URL": f"sqlite:///{tmp_path}/recall.db",
    }
    worker = subprocess.Popen(
        [RECALL, "worker", "--processes", "1", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 60
        while not client.zcard("recall-cli-w:__heartbeats__"):
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
            assert time.monotonic() < deadline, "the worker never reached Redis"
            time.sleep(0.2)
    finally:
        # To the main process only, as docker stop does: Dramatiq forwards SIGTERM to its
        # children once (the same signal to the whole group makes them stop hard).
        os.kill(worker.pid, signal.SIGTERM)
        output = worker.communicate(timeout=60)[0].decode()
    assert worker.returncode == 0, output
    assert "Worker has been shut down" in output


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_exports_dramatiq_metrics_that_prometheus_can_scrape(
    redis_url: str, tmp_path: Path
) -> None:
    import dramatiq
    import httpx
    from dramatiq.brokers.redis import RedisBroker

    from tests.web.support import free_port

    port = free_port()
    env = {
        **os.environ,
        "RECALL_BROKER_URL": redis_url,
        "RECALL_BROKER_NAMESPACE": "recall-cli-m",
        "RECALL_DATABASE_URL": f"sqlite:///{tmp_path}/recall.db",
    }
    worker = subprocess.Popen(
        [RECALL, "worker", "-p", "1", "-t", "2", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    broker = RedisBroker(url=redis_url, namespace="recall-cli-m", middleware=[])
    # A case that does not exist: handled (skipped) or failed, it is counted either way.
    message = dramatiq.Message(
        queue_name="case", actor_name="case.notify", args=(1,), kwargs={}, options={}
    )
    series = 'dramatiq_messages_total{actor_name="case.notify",queue_name="case"}'
    scraped = ""
    try:
        broker.enqueue(message)
        deadline = time.monotonic() + 60
        while series not in scraped:
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
            assert time.monotonic() < deadline, f"no {series} in:\n{scraped[-1500:]}"
            time.sleep(0.5)
            try:
                scraped = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
            except httpx.HTTPError:
                continue
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        worker.communicate(timeout=60)
        broker.close()
    assert f"{series} 1.0" in scraped
