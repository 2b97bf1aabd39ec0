"""Dashboard sessions: a signed cookie for the browser, the truth in the database.

The cookie (``recall_session``) is signed with ``RECALL_SECRET_KEY`` and carries the CSRF
token, a flash message, the absolute expiry and, once logged in, a random session token.
Who is logged in is decided by the ``web_session`` row that token names (its SHA-256 is the
key): logout deletes it, a user removed from ``RECALL_DASHBOARD_USERS`` or whose password
or role changed no longer matches its credential, and it ends after
``session_idle_minutes`` without a request or ``session_absolute_hours`` after the login.
The cookie is written only when its content changes, with a lifetime that never passes the
absolute expiry: a POST does not renew anything.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, TimestampSigner
from sqlalchemy import delete
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.models import WebSession

COOKIE = "recall_session"
# A visitor who has not logged in (the login form's CSRF token) keeps the cookie this long.
ANONYMOUS_SECONDS = 3600
# last_seen_at is written at most this often: a page polling every few seconds must not
# turn every request into a write.
TOUCH_EVERY = timedelta(seconds=30)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionCookieMiddleware:
    """``scope["session"]``: a dict read from the signed cookie, written back on change."""

    def __init__(self, app: ASGIApp, *, secret_key: str, https: bool, max_seconds: float) -> None:
        self.app = app
        self.signer = TimestampSigner(secret_key)
        self.https = https
        self.max_seconds = int(max_seconds)

    def _load(self, scope: Scope) -> dict[str, Any]:
        raw = HTTPConnection(scope).cookies.get(COOKIE)
        if not raw:
            return {}
        try:
            data = json.loads(self.signer.unsign(raw, max_age=self.max_seconds))
        except (BadSignature, ValueError):
            return {}
        expires = data.get("exp") if isinstance(data, dict) else None
        return data if isinstance(expires, int | float) and expires > time.time() else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loaded = self._load(scope)
        scope["session"] = dict(loaded)

        async def write_back(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                if session != loaded:
                    headers = MutableHeaders(scope=message)
                    headers.append("set-cookie", self._cookie(session))
            await send(message)

        await self.app(scope, receive, write_back)

    def _cookie(self, session: dict[str, Any]) -> str:
        flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.https else "")
        if not session:
            return f"{COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{flags}"
        now = time.time()
        session.setdefault("exp", int(now + ANONYMOUS_SECONDS))
        lifetime = max(0, int(session["exp"] - now))
        value = self.signer.sign(json.dumps(session, separators=(",", ":"))).decode()
        return f"{COOKIE}={value}; Max-Age={lifetime}{flags}"


def start(
    session: Session,
    *,
    user: str,
    credential: str,
    now: datetime,
    absolute: timedelta,
    idle: timedelta,
) -> tuple[str, datetime]:
    """A new session row; returns the token for the cookie and the absolute expiry."""
    token = secrets.token_urlsafe(32)
    expires = now + absolute
    session.add(
        WebSession(
            token_hash=token_hash(token),
            user_name=user,
            credential=credential,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
        )
    )
    # Rows of sessions that ran out go with each new one: the table holds live sessions only.
    ended = (WebSession.expires_at < now) | (WebSession.last_seen_at < now - idle)
    session.execute(delete(WebSession).where(ended))
    return token, expires


def live(session: Session, token: str, *, now: datetime, idle: timedelta) -> WebSession | None:
    """The session row for ``token`` when it has not expired or idled out (touched)."""
    row = session.get(WebSession, token_hash(token))
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at + idle <= now:
        session.delete(row)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row


def end(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


def end_all_of(session: Session, user: str) -> None:
    session.execute(delete(WebSession).where(WebSession.user_name == user))
