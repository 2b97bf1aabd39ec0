"""The callback URLs recall gives Twilio, with connection overrides asking it to retry.

Twilio retries a webhook that failed only as the URL's fragment asks (its "connection
overrides", https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides):
without one, a status callback that met a restarting web process is gone for good. The
fragment never reaches our server and is not part of the URL Twilio signs, so the
signature check is unchanged. Operators should put the same fragment on the inbound URLs
they configure in the Twilio console (README, "Running it for real").
"""

from __future__ import annotations

from pipeline.channel_port import FOLLOWUP_CALLBACK_MARK, Outbound
from pipeline.settings import get_settings

# Retry up to 5 times on a connect timeout, a read timeout or a 5xx; 15 s in all (tt).
CONNECTION_OVERRIDES = "#rc=5&rp=ct,rt,5xx&tt=15000"


def status_callback_url(path: str, message: Outbound) -> str:
    """The status callback URL for ``message``: a follow-up's is marked, so the web can store
    its statuses as handled at once (they change no case) instead of handing them on."""
    return twilio_callback_url(path, "" if message.notice else f"{FOLLOWUP_CALLBACK_MARK}=1")


def twilio_callback_url(path: str, query: str = "") -> str:
    """``RECALL_PUBLIC_URL`` + ``path`` (+ ``?query``) + the retry overrides."""
    url = get_settings().public_url.rstrip("/") + path
    return url + (f"?{query}" if query else "") + CONNECTION_OVERRIDES
