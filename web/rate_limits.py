"""Per-source rate limits on what the internet may call without logging in (issue 13).

Response links (``/r/…``): ``link_requests_per_minute`` per client address. Webhooks: every
request without a signature header, and every one whose signature was refused (a 403),
spends from its address's ``unsigned_webhooks_per_minute``; once that is spent, requests
*without* a signature header are refused (429) before their body is read. A request that
carries a signature is always checked, so a provider's signed callback is never dropped,
whoever shares its address (a proxy, a NAT) and however much junk they send.

Token buckets in this process's memory, at most ``MAX_SOURCES`` addresses (the least
recently seen are forgotten): each web process limits on its own. Loopback sources are not
limited: the provider sandbox and ``recall demo`` click every link from this machine, and a
proxy on this machine passes each client's own address (uvicorn trusts its
``X-Forwarded-For`` from 127.0.0.1; set ``FORWARDED_ALLOW_IPS`` for a proxy elsewhere, or
every client shares the proxy's budget).
"""

from __future__ import annotations

import ipaddress
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_SOURCES = 10_000
SIGNATURE_HEADERS = (b"x-twilio-signature", b"x-twilio-email-event-webhook-signature")


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """``per_minute`` requests a minute per key, bursts up to the same number."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self.buckets.pop(key, None) or _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self.buckets[key] = bucket
        while len(self.buckets) > MAX_SOURCES:
            self.buckets.popitem(last=False)
        return bucket

    def wait(self, key: str) -> int:
        """Seconds until ``key`` has a whole token (0: it has one now)."""
        tokens = self._bucket(key).tokens
        return 0 if tokens >= 1 else math.ceil((1 - tokens) / self.rate)

    def spend(self, key: str) -> None:
        bucket = self._bucket(key)
        bucket.tokens = max(bucket.tokens - 1, -self.capacity)


def _loopback(source: str) -> bool:
    try:
        return ipaddress.ip_address(source).is_loopback
    except ValueError:
        return False  # "testclient", "unknown": not an address, so limited


def _signed(scope: Scope) -> bool:
    return any(name in SIGNATURE_HEADERS for name, _ in scope["headers"])


class SourceRateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, links_per_minute: int, unsigned_per_minute: int) -> None:
        self.app = app
        self.links = TokenBuckets(links_per_minute)
        self.unsigned = TokenBuckets(unsigned_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        client = scope.get("client")
        source = client[0] if client else "unknown"
        if _loopback(source):
            await self.app(scope, receive, send)
            return
        if path.startswith(("/r/", "/s/")):  # response and satisfaction links
            if wait := self.links.wait(source):
                await _too_many(send, wait)
                return
            self.links.spend(source)
        elif path.startswith("/webhooks/"):
            await self._webhook(scope, receive, send, source)
            return
        await self.app(scope, receive, send)

    async def _webhook(self, scope: Scope, receive: Receive, send: Send, source: str) -> None:
        signed = _signed(scope)
        if not signed and (wait := self.unsigned.wait(source)):
            await _too_many(send, wait)
            return
        refused = not signed

        async def watch(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 403:
                refused = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if refused:
                self.unsigned.spend(source)


async def _too_many(send: Send, wait: int) -> None:
    body = json.dumps({"error": f"too many requests; try again in {wait} s"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(wait).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
