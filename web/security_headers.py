"""Security headers on every response (issue 13).

The pages load scripts and styles only from ``/static`` (vendored, no CDN), so the policy
can forbid everything else: no inline script, no framing (clickjacking), no plugin, no
foreign form target. Inline ``style=""`` attributes draw the progress bars, hence
``'unsafe-inline'`` for styles only. Pages that show personal data or carry tokens
(dashboard, API, response links, login) are ``no-store``: a shared browser's cache or a
proxy must not keep them.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
ALWAYS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
PRIVATE_PREFIXES = ("/dashboard", "/api", "/r/", "/login", "/logout", "/docs", "/openapi.json")
HSTS = "max-age=31536000"


class SecurityHeadersMiddleware:
    """Adds the headers to every HTTP response; ``https`` also adds HSTS."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope.get("path", "").startswith(PRIVATE_PREFIXES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if private:
                    headers["cache-control"] = "no-store"
                if self.https:
                    headers.setdefault("strict-transport-security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)
