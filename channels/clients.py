"""The Twilio and SendGrid clients, pointed at the real services or at any server that speaks
their APIs (``RECALL_TWILIO_API_BASE`` / ``RECALL_SENDGRID_API_BASE``, e.g. ``recall sandbox``).

The Twilio library builds absolute ``https://<product>.twilio.com/...`` URLs itself; the
supported hook to send them elsewhere is a custom ``HttpClient``, so ``RebasingHttpClient``
rewrites the scheme and host of every ``*.twilio.com`` URL and leaves the path alone.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sendgrid import SendGridAPIClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client as TwilioClient

from pipeline.settings import Settings, get_settings

SENDGRID_DEFAULT_HOST = "https://api.sendgrid.com"


def rebase_url(url: str, base: str) -> str:
    """``https://api.twilio.com/2010-04-01/x`` with ``base`` = ``http://h:1`` →
    ``http://h:1/2010-04-01/x``. URLs on other hosts are returned unchanged."""
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith("twilio.com"):
        return url
    target = urlsplit(base)
    path = target.path.rstrip("/") + parts.path
    return urlunsplit((target.scheme, target.netloc, path, parts.query, parts.fragment))


class RebasingHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending every Twilio API request to ``base_url`` instead."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, rebase_url(url, self.base_url), *args, **kwargs)


@lru_cache(maxsize=8)
def _twilio_client(sid: str, token: str, base: str | None, timeout: float) -> TwilioClient:
    http_client = (
        RebasingHttpClient(base, timeout=timeout) if base else TwilioHttpClient(timeout=timeout)
    )
    return TwilioClient(sid, token, http_client=http_client)


def twilio_client(settings: Settings | None = None) -> TwilioClient:
    """A (cached, thread-safe) Twilio client for the configured account and API base."""
    s = settings or get_settings()
    return _twilio_client(
        s.twilio_account_sid, s.twilio_auth_token, s.twilio_api_base, s.provider_timeout_seconds
    )


def sendgrid_client(settings: Settings | None = None) -> SendGridAPIClient:
    """A SendGrid v3 client for the configured key and API base. Cheap; made per send,
    because python_http_client keeps per-request state on the client object."""
    s = settings or get_settings()
    client = SendGridAPIClient(
        s.sendgrid_api_key, host=s.sendgrid_api_base or SENDGRID_DEFAULT_HOST
    )
    client.client.timeout = s.provider_timeout_seconds
    return client
