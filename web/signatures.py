"""Webhook signature checks: Twilio (HMAC over URL + form) and SendGrid (ECDSA P-256).

Twilio signs the URL *it called*, so the URL is rebuilt from ``RECALL_PUBLIC_URL`` and the
path and query the request carried — never from the Host header, which a proxy rewrites and
an attacker controls. SendGrid signs ``timestamp + raw body`` with the key pair whose public
half is ``RECALL_SENDGRID_WEBHOOK_PUBLIC_KEY``.
"""

from __future__ import annotations

import binascii
import logging
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from sendgrid.helpers.eventwebhook import EventWebhook
from starlette.datastructures import MultiDict
from twilio.request_validator import RequestValidator, get_signature_algorithm

log = logging.getLogger(__name__)

TWILIO_SIGNATURE = "X-Twilio-Signature"
TWILIO_SIGNATURE_SETTINGS = "X-Twilio-Webhooks-Signature-Settings"
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def public_request_url(public_url: str, scope: Mapping[str, Any]) -> str:
    """The URL the provider called: our public base URL + the request's path and query.

    ``raw_path`` is the path exactly as it arrived (still percent-encoded), which is what
    the provider signed; the query string is kept byte for byte for the same reason.
    """
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return public_url.rstrip("/") + path + (f"?{query}" if query else "")


@lru_cache(maxsize=4)
def _twilio_validator(auth_token: str) -> RequestValidator:
    return RequestValidator(auth_token)


def twilio_signature_valid(
    *,
    auth_token: str,
    url: str,
    params: MultiDict,
    signature: str | None,
    signature_settings: str | None = None,
) -> bool:
    """True when ``signature`` is Twilio's signature of ``url`` and every form field."""
    if not signature:
        return False
    algorithm = get_signature_algorithm(signature_settings)
    return bool(_twilio_validator(auth_token).validate(url, params, signature, algorithm))


@lru_cache(maxsize=4)
def _sendgrid_key(public_key: str) -> EllipticCurvePublicKey | None:
    try:
        key = EventWebhook().convert_public_key_to_ecdsa(public_key)
    except ValueError:
        log.error("sendgrid.public_key_invalid")
        return None
    return key if isinstance(key, EllipticCurvePublicKey) else None


def sendgrid_timestamp_fresh(timestamp: str, *, now: float, max_age_seconds: float) -> bool:
    """True when ``timestamp`` (Unix seconds, as SendGrid sends it) is within
    ``max_age_seconds`` of ``now``, either way: a captured post replayed later is refused."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    return abs(now - int(timestamp)) <= max_age_seconds


def sendgrid_signature_valid(
    *,
    public_key: str | None,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float | None = None,
    max_age_seconds: float | None = None,
) -> bool:
    """True when ``signature`` is SendGrid's ECDSA signature of ``timestamp + body`` and,
    with ``max_age_seconds``, the timestamp is that fresh.

    With no public key configured every event is refused: an unverifiable webhook is
    indistinguishable from a forged one.
    """
    if not (public_key and signature and timestamp):
        return False
    if max_age_seconds is not None and not sendgrid_timestamp_fresh(
        timestamp, now=time.time() if now is None else now, max_age_seconds=max_age_seconds
    ):
        return False
    key = _sendgrid_key(public_key)
    if key is None:
        return False
    try:
        payload = body.decode("utf-8")
        return bool(EventWebhook().verify_signature(payload, signature, timestamp, key))
    except (InvalidSignature, ValueError, binascii.Error, UnicodeError):
        # Undecodable signature or body: it cannot be the provider's signature.
        return False
