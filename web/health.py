"""``GET /healthz``: is this web process able to do its job — reach the database and,
when one is configured, the broker's Redis? 200 when both answer, 503 otherwise."""

from __future__ import annotations

import logging
from typing import Any

import redis
from fastapi import APIRouter
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from web import responses
from web.deps import engine_of, settings_of

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"], responses=responses.HEALTH)


def _database_ok(request: Request) -> bool:
    try:
        with engine_of(request).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not healthy", reported, never raised
        log.warning("health.database_down", extra={"error": type(error).__name__})
        return False
    return True


def _broker_status(request: Request) -> str:
    url = settings_of(request).broker_url
    if not url:
        return "in-process"
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        log.warning("health.broker_down", extra={"error": type(error).__name__})
        return "down"
    finally:
        client.close()
    return "ok"


def _check(request: Request) -> dict[str, Any]:
    broker = _broker_status(request)
    database = "ok" if _database_ok(request) else "down"
    healthy = database == "ok" and broker != "down"
    return {"status": "ok" if healthy else "unhealthy", "database": database, "broker": broker}


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """Liveness with dependency checks, for load balancers and `docker compose`."""
    report = await run_in_threadpool(_check, request)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
