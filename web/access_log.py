"""``recall web --access-log``: one structured, masked line per request.

uvicorn's own access log prints the raw path, which for ``/r/{token}`` is a credential (a
response link acts for its recipient until it expires). This one prints the path with any
token replaced, the status, the time taken and the client address, through the masking
log helper like every other line.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.privacy.masking import log_event
from web.asgi import StatusCapture

log = logging.getLogger("recall.access")

# /r/<token>[/...]: everything between /r/ and the next slash is the signed token.
_LINK_TOKEN = re.compile(r"^/r/[^/]+")


def loggable_path(path: str) -> str:
    """``path`` as it may be written down: a response link's token is never shown."""
    return _LINK_TOKEN.sub("/r/<token>", path)[:256]


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, capture = time.perf_counter(), StatusCapture(send)
        try:
            await self.app(scope, receive, capture)
        finally:
            client = scope.get("client")
            log_event(
                log,
                "http.request",
                method=scope.get("method", ""),
                path=loggable_path(scope.get("path", "")),
                status=capture.status,
                ms=round((time.perf_counter() - started) * 1000, 1),
                client=client[0] if client else "",
            )
