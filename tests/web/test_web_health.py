"""/healthz reports the database and the broker's Redis, and says 503 when either is down."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pipeline.db import make_engine
from pipeline.settings import Settings
from web.app import create_app


def test_healthy_with_in_process_broker(sqlite_engine: Engine) -> None:
    with TestClient(create_app(settings=Settings(), engine=sqlite_engine)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "in-process"}


def test_healthy_with_postgres_and_redis(pg_engine: Engine, redis_url: str) -> None:
    settings = Settings(broker_url=redis_url)
    with TestClient(create_app(settings=settings, engine=pg_engine)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["broker"] == "ok"


def test_database_down_is_503(sqlite_engine: Engine) -> None:
    dead = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    with TestClient(create_app(settings=Settings(), engine=dead)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"


def test_broker_down_is_503(sqlite_engine: Engine) -> None:
    settings = Settings(broker_url="redis://127.0.0.1:1/5")
    with TestClient(create_app(settings=settings, engine=sqlite_engine)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": "ok", "broker": "down"}
