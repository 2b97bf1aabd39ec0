"""Bounds on what any client, signed in or not, can make this process read (issue 13).

A body is limited per route *while it is read*: a declared ``Content-Length`` over the
limit is refused before a byte of the body is read, and a chunked body is cut off at the
limit, so a 100 MB post never reaches memory, a parser or a signature check. The number and
total size of header lines are bounded too. Anything over a bound gets a 413 or 431.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.errors import RecallError

KIB = 1024
# Twilio's callbacks are a few KiB of form fields; SendGrid batches events into posts that
# stay well under 8 MiB (a thousand events of ~1 KiB is 1 MiB); a response-link form holds
# one question; a login a name and a password. Longest prefix first: the first match wins.
BODY_LIMITS: tuple[tuple[str, int], ...] = (
    ("/webhooks/sendgrid/", 8 * KIB * KIB),
    ("/webhooks/", 64 * KIB),
    ("/r/", 16 * KIB),
    ("/s/", 4 * KIB),
    ("/login", 4 * KIB),
    ("/api/", KIB * KIB),
)
DEFAULT_BODY_LIMIT = 64 * KIB
MAX_HEADER_COUNT = 64
MAX_HEADER_BYTES = 16 * KIB
# Fields a dashboard form may carry (the biggest has four); webhooks and links parse their
# own forms with their own bound.
MAX_FORM_FIELDS = 32


def body_limit(path: str) -> int:
    """The most bytes a request body to ``path`` may have."""
    for prefix, limit in BODY_LIMITS:
        if path.startswith(prefix):
            return limit
    return DEFAULT_BODY_LIMIT


class BodyTooLarge(RecallError):
    """Raised from ``receive`` once a body passes its route's limit."""


@dataclass
class _Counted:
    receive: Receive
    limit: int
    seen: int = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise BodyTooLarge
        return message


class RequestLimitsMiddleware:
    """431 for too many or too large header lines, 413 for a body over its route's limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if len(headers) > MAX_HEADER_COUNT or sum(len(k) + len(v) for k, v in headers) > (
            MAX_HEADER_BYTES
        ):
            await _refuse(send, 431, "too many or too large request headers")
            return
        limit = body_limit(scope.get("path", ""))
        if _declared_length(headers) > limit:
            await _refuse(send, 413, f"request body over {limit} bytes")
            return
        if _form_checked(scope):
            await self._checked_form(scope, receive, send, limit)
            return
        await self._counted(scope, receive, send, limit)

    async def _checked_form(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A dashboard form, read here (it is small: its limit applies) so its fields can be
        counted before any parser sees it; then handed on as it came."""
        body, reader = b"", _Counted(receive, limit)
        try:
            while True:
                message = await reader()
                body += message.get("body", b"")
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
        except BodyTooLarge:
            await _refuse(send, 413, f"request body over {limit} bytes")
            return
        if _field_count(scope, body) > MAX_FORM_FIELDS:
            await _refuse(send, 400, f"more than {MAX_FORM_FIELDS} form fields")
            return
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()  # only a disconnect is left to wait for
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, _Counted(receive, limit), watch)
        except BodyTooLarge:
            if not started:
                await _refuse(send, 413, f"request body over {limit} bytes")


# Dashboard forms: counted here, since FastAPI parses a route's form fields before any
# dependency could pass the parser a limit. Webhooks and links bound their own forms.
FORM_CHECKED_PREFIXES = ("/dashboard", "/login", "/logout")


def _form_checked(scope: Scope) -> bool:
    if scope.get("method") != "POST" or not scope.get("path", "").startswith(FORM_CHECKED_PREFIXES):
        return False
    for key, value in scope["headers"]:
        if key == b"content-type":
            return value.split(b";")[0].strip().lower() in (
                b"application/x-www-form-urlencoded",
                b"multipart/form-data",
            )
    return False


def _field_count(scope: Scope, body: bytes) -> int:
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    if content_type.lower().startswith(b"multipart/"):
        return body.lower().count(b"content-disposition:")
    return body.count(b"&") + 1


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    for key, value in headers:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server itself refuses a malformed length
    return 0


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"error": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
