"""Provider throughput limits, held across every worker on every machine.

Dramatiq's rate limiters on the broker's backend (Redis when a broker URL is set): SMS
segments per second per sender (Twilio's MPS is per sender number or messaging service), emails per
second, and calls in progress at once (held for the duration of the API request that
places the call). A worker thread waits up to ``rate_limit_wait_seconds`` for a slot, then
gives the message back to the broker to try later.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from dramatiq.rate_limits import ConcurrentRateLimiter, RateLimiter, WindowRateLimiter

from actors.broker import rate_limiter_backend
from actors.retry import RateLimited
from pipeline.channel_port import spec_for
from pipeline.settings import get_settings, sms_segments_per_second


@cache
def limiter_for(channel: str) -> RateLimiter:
    settings = get_settings()
    prefix = f"{settings.broker_namespace}:limits"
    if channel == "sms":
        sender = settings.twilio_messaging_service_sid or settings.twilio_from or "default"
        return WindowRateLimiter(
            rate_limiter_backend,
            f"{prefix}:sms:{sender}",
            limit=sms_segments_per_second(settings),
            window=1,
        )
    if channel == "email":
        return WindowRateLimiter(
            rate_limiter_backend, f"{prefix}:email", limit=settings.emails_per_second, window=1
        )
    if channel == "voice":
        # The ttl frees the slot of a worker that died holding it.
        return ConcurrentRateLimiter(
            rate_limiter_backend, f"{prefix}:voice", limit=settings.concurrent_calls, ttl=60_000
        )
    # Any other channel: a per-second window its spec names a setting for.
    field = spec_for(channel).rate_setting
    if not field:
        raise ValueError(f"channel {channel!r} names no rate setting")
    limit = int(getattr(settings, field))
    return WindowRateLimiter(rate_limiter_backend, f"{prefix}:{channel}", limit=limit, window=1)


@contextmanager
def provider_slot(channel: str, *, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold one of ``channel``'s provider slots for the block; raises ``RateLimited`` when
    none frees up in time."""
    limiter = limiter_for(channel)
    wait = get_settings().rate_limit_wait_seconds if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    while True:
        with limiter.acquire(raise_on_failure=False) as acquired:
            if acquired:
                yield
                return
        if time.monotonic() >= deadline:
            raise RateLimited(f"no {channel} slot within {wait}s")
        time.sleep(random.uniform(0.01, 0.05))


def charge_segments(segments: int, *, wait_seconds: float | None = None) -> int:
    """Take the slots of an SMS's segments after the first (its send took one), so the
    limit counts segments as Twilio does. Waits for them in turn; returns how many it got
    (a slot not found in time is not owed: the limit is kept on average, not exactly)."""
    taken = 0
    for _ in range(max(segments - 1, 0)):
        try:
            with provider_slot("sms", wait_seconds=wait_seconds):
                taken += 1
        except RateLimited:
            break
    return taken
