"""Which failures Dramatiq retries: transient ones only, a bounded number of times.

A provider's transient failure (``ChannelError``), a dropped database or Redis connection,
a rate-limit slot not found in time: retried with exponential backoff up to
``send_max_retries`` times, then the message is dead-lettered (visible and requeueable, see
``actors.dead_letters``). Anything else is a programming error or bad data: never retried,
dead-lettered at once. A permanent provider failure never reaches here: it is recorded on
the attempt and the case moves on.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
import sqlalchemy.exc

from channels.base import ChannelError
from pipeline.errors import RecallError
from pipeline.inbound.status_callbacks import NotMatchedYet
from pipeline.settings import get_settings


class RateLimited(RecallError):
    """No provider slot became free within ``rate_limit_wait_seconds``."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ChannelError,
    RateLimited,
    NotMatchedYet,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    TimeoutError,
    ConnectionError,
)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT_ERRORS)


def retry_when(retries: int, error: BaseException) -> bool:
    """Dramatiq's ``retry_when``: ``retries`` is how many retries happened already."""
    return is_transient(error) and retries < get_settings().send_max_retries


def retry_options() -> dict[str, Any]:
    """The retry options every actor of ours is declared with."""
    settings = get_settings()
    return {
        "retry_when": retry_when,
        "min_backoff": settings.send_min_backoff_ms,
        "max_backoff": settings.send_max_backoff_ms,
    }
