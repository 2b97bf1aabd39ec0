"""Signed response-link tokens: ``/r/{token}`` in an email means one answer for one case.

The token carries the case id, the answer and the expiry (the campaign deadline), signed with
``RECALL_SECRET_KEY`` (itsdangerous, HMAC-SHA1 with a purpose-specific salt). Nothing personal
is in it, and it cannot be edited to answer for another case or change the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

from pipeline.errors import RecallError
from pipeline.settings import get_settings

# opt_out backs the one-click List-Unsubscribe link of an email.
ANSWERS = frozenset({"agree", "refuse", "query", "opt_out"})
_SALT = "recall.response-link"


class InvalidToken(RecallError):
    """The token was not made by us, was altered, or does not say a valid answer."""


class ExpiredToken(InvalidToken):
    """The token is genuine but its campaign deadline has passed."""


def _serializer(secret_key: str | None) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key or get_settings().secret_key, salt=_SALT)


def make_response_token(
    case_id: int, answer: str, expires_at: datetime, *, secret_key: str | None = None
) -> str:
    """A URL-safe token saying: case ``case_id`` answers ``answer``, until ``expires_at``."""
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {sorted(ANSWERS)}, not {answer!r}")
    expires = int(expires_at.astimezone(UTC).timestamp())
    return _serializer(secret_key).dumps([int(case_id), answer, expires])


def read_response_token(
    token: str, now: datetime, *, secret_key: str | None = None
) -> tuple[int, str]:
    """``(case_id, answer)`` from a token; InvalidToken or ExpiredToken otherwise."""
    try:
        payload = _serializer(secret_key).loads(token)
    except BadSignature as error:
        raise InvalidToken("response link is not valid") from error
    try:
        case_id, answer, expires = payload
        case_id, expires = int(case_id), int(expires)
    except (TypeError, ValueError) as error:
        raise InvalidToken("response link is malformed") from error
    if answer not in ANSWERS:
        raise InvalidToken("response link names no valid answer")
    if now.astimezone(UTC).timestamp() > expires:
        raise ExpiredToken("response link has expired (the campaign deadline passed)")
    return case_id, str(answer)
