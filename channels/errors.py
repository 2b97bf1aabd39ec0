"""Provider errors sorted into transient (retry) and permanent (record, move on).

One table per provider, so the rule lives in one place. API errors come back when a send is
made; delivery errors come later in status callbacks (``classify_delivery_error``), which is
where Twilio 30003 ("unreachable handset") gets one more try before it counts as permanent.
"""

from __future__ import annotations

import json
import socket
from urllib.error import URLError

import requests
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from twilio.base.exceptions import TwilioRestException

from channels.base import FailureKind, SendFailure

TRANSIENT = FailureKind.TRANSIENT
PERMANENT = FailureKind.PERMANENT

# Twilio error codes we act on. Anything else: by HTTP status (429/5xx transient, 4xx permanent).
TWILIO_PERMANENT = {
    21211: "invalid phone number",
    21610: "recipient has unsubscribed (replied STOP)",
    21614: "number cannot receive SMS",
    21635: "number is a landline",
    30006: "landline or unreachable carrier",
    30005: "unknown or inactive number",
    30007: "message filtered as spam by the carrier",
}
TWILIO_TRANSIENT = {
    20429: "too many requests",
    20500: "provider internal error",
    20503: "provider unavailable",
    30001: "provider queue overflow",
    30003: "handset unreachable",
    30008: "unknown delivery error",
}
# Refusals that mean the person unsubscribed at the provider: ``SendFailure.opted_out``.
TWILIO_OPTED_OUT = frozenset({21610})
# Delivery errors that are retried this many times before they are permanent.
RETRY_ONCE = {30003: 1}


def _by_status(status: int, code: str, message: str) -> SendFailure:
    if status == 429:
        return SendFailure(TRANSIENT, code, f"rate limited: {message}")
    if status >= 500:
        return SendFailure(TRANSIENT, code, f"provider error {status}: {message}")
    if status in (401, 403):
        # Wrong credentials fail every send alike; never blame (and close) the recipient.
        return SendFailure(TRANSIENT, code, f"provider refused our credentials: {message}")
    return SendFailure(PERMANENT, code, f"provider rejected the request: {message}")


def classify_twilio_error(error: TwilioRestException) -> SendFailure:
    code = int(error.code) if str(error.code or "").isdigit() else None
    if code in TWILIO_PERMANENT:
        opted_out = code in TWILIO_OPTED_OUT
        return SendFailure(PERMANENT, str(code), TWILIO_PERMANENT[code], opted_out=opted_out)
    if code in TWILIO_TRANSIENT:
        return SendFailure(TRANSIENT, str(code), TWILIO_TRANSIENT[code])
    return _by_status(int(error.status), str(code or error.status), str(error.msg)[:200])


def classify_delivery_error(code: str | int, previous_failures: int = 0) -> SendFailure:
    """A Twilio delivery ErrorCode (status callback of an undelivered/failed message or call).
    ``previous_failures``: how often this case already failed with the same code."""
    number = int(code) if str(code).isdigit() else None
    if number in RETRY_ONCE and previous_failures < RETRY_ONCE[number]:
        return SendFailure(TRANSIENT, str(number), TWILIO_TRANSIENT[number])
    if number in TWILIO_PERMANENT:
        return SendFailure(PERMANENT, str(number), TWILIO_PERMANENT[number])
    if number in TWILIO_TRANSIENT and number not in RETRY_ONCE:
        return SendFailure(TRANSIENT, str(number), TWILIO_TRANSIENT[number])
    reason = TWILIO_TRANSIENT.get(number or 0, "not delivered")
    return SendFailure(PERMANENT, str(code), reason)


def _sendgrid_message(error: SendGridHTTPError) -> tuple[str, str]:
    try:
        body = json.loads(error.body)
        first = body["errors"][0]
        return str(first.get("field") or ""), str(first.get("message") or "")
    except (ValueError, KeyError, IndexError, TypeError):
        return "", str(error.body)[:200]


def classify_sendgrid_error(error: SendGridHTTPError) -> SendFailure:
    status = int(error.status_code)
    field, message = _sendgrid_message(error)
    if status == 400 and ("email" in field or "address" in message.lower()):
        return SendFailure(PERMANENT, "400", f"bad email address: {message}")
    return _by_status(status, str(status), message)


def classify_network_error(error: BaseException) -> SendFailure:
    """A timeout or a refused connection: nothing reached the provider, or no answer came."""
    is_timeout = isinstance(error, requests.Timeout | socket.timeout | TimeoutError) or (
        isinstance(error, URLError) and isinstance(error.reason, socket.timeout | TimeoutError)
    )
    if is_timeout:
        return SendFailure(TRANSIENT, "timeout", "provider did not answer in time")
    return SendFailure(TRANSIENT, "connection", f"could not reach the provider: {error}"[:200])


NETWORK_ERRORS = (requests.RequestException, URLError, TimeoutError, ConnectionError, OSError)
