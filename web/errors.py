"""The safety net: a malformed request is a 4xx, a missing dependency a 503, never a 500.

Handlers validate what they read; these handlers catch what slips past them. A value the
database refuses (a NUL byte, an over-long string) is the client's fault; a database or
broker that is down is ours and temporary, and a 503 makes Twilio and SendGrid retry.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pipeline.errors import MalformedEvent
from web.ingest import IngestUnavailable

log = logging.getLogger(__name__)


async def _bad_request(request: Request, error: Exception) -> Response:
    log.warning("web.bad_request", extra={"path": request.url.path, "error": type(error).__name__})
    return JSONResponse({"error": "malformed request", "detail": str(error)[:200]}, 400)


async def _data_refused(request: Request, error: Exception) -> Response:
    log.warning("web.data_refused", extra={"path": request.url.path})
    return JSONResponse({"error": "malformed request", "detail": "value refused"}, 400)


async def _unavailable(request: Request, error: Exception) -> Response:
    log.error("web.unavailable", extra={"path": request.url.path, "error": type(error).__name__})
    return JSONResponse({"error": "temporarily unavailable"}, 503, headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MalformedEvent, _bad_request)
    app.add_exception_handler(UnicodeError, _bad_request)
    app.add_exception_handler(DataError, _data_refused)
    for error in (OperationalError, RedisConnectionError, RedisTimeoutError, IngestUnavailable):
        app.add_exception_handler(error, _unavailable)
