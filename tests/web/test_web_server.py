"""The real thing: `recall web` (uvicorn) on PostgreSQL with the Redis broker.

A signed inbound SMS must be stored in PostgreSQL and its ``response.process`` message must
be on the broker's Redis queue; a replay must add neither a row nor a message.
"""

from __future__ import annotations

import gc
import os

import dramatiq
import httpx
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.web.support import (
    PRODUCTION_ENV,
    PUBLIC_URL,
    TWILIO_TOKEN,
    recall_web,
    stored,
    twilio_headers,
)
from web.app import create_app, create_served_app

SMS = {"MessageSid": "SMfeedfacefeedfacefeedfacefeedface", "From": "+15551230002", "Body": "STOP"}


def test_recall_web_stores_and_enqueues_on_redis(
    pg_engine: Engine, pg_database_url: str, redis_url: str
) -> None:
    namespace = f"recall-test-web-{os.getpid()}"
    env = {
        **PRODUCTION_ENV,
        "RECALL_DATABASE_URL": pg_database_url,
        "RECALL_BROKER_URL": redis_url,
        "RECALL_BROKER_NAMESPACE": namespace,
        "RECALL_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        # Behind a proxy: Twilio calls the public URL, uvicorn sees 127.0.0.1:port.
        "RECALL_PUBLIC_URL": PUBLIC_URL,
    }
    with recall_web(env) as base:
        headers = twilio_headers(f"{PUBLIC_URL}/webhooks/twilio/sms", SMS)
        for _ in range(2):
            response = httpx.post(f"{base}/webhooks/twilio/sms", data=SMS, headers=headers)
            assert response.status_code == 200
        forged = httpx.post(f"{base}/webhooks/twilio/sms", data={**SMS, "MessageSid": "SM2"})
        assert forged.status_code == 403
        health = httpx.get(f"{base}/healthz").json()
    assert health == {"status": "ok", "database": "ok", "broker": "ok"}

    [event] = stored(pg_engine)
    assert event.provider_event_id == SMS["MessageSid"]
    client = redis.Redis.from_url(redis_url)
    assert client.llen(f"{namespace}:response") == 1
    [raw] = client.hvals(f"{namespace}:response.msgs")
    message = dramatiq.Message.decode(raw)
    assert (message.actor_name, list(message.args)) == ("response.process", [event.id])


def test_served_app_freezes_what_startup_built() -> None:
    # `recall web` serves create_served_app: a full collection must not traverse the
    # modules and the app on every pass (each pass stalled every request in flight).
    try:
        with TestClient(create_app()):
            assert gc.get_freeze_count() == 0  # an app in a shared process (tests, demo)
        with TestClient(create_served_app()):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
