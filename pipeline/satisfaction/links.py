"""The satisfaction question's link (``/s/{token}``): a signed token naming the case, so a
person who got the question by email (or prefers a page) can answer it there.

Signed with ``RECALL_SECRET_KEY`` under its own salt: a response-link token is not a
satisfaction token and the other way round. The token never expires — the question is
asked once and the first answer counts, so a late click changes nothing.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from pipeline.privacy.tokens import InvalidToken
from pipeline.settings import get_settings

_SALT = "recall.satisfaction-link"


def _serializer(secret_key: str | None) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key or get_settings().secret_key, salt=_SALT)


def make_satisfaction_token(case_id: int, *, secret_key: str | None = None) -> str:
    return _serializer(secret_key).dumps(int(case_id))


def read_satisfaction_token(token: str, *, secret_key: str | None = None) -> int:
    """The case id; InvalidToken for anything we did not sign."""
    try:
        case_id = _serializer(secret_key).loads(token)
    except BadSignature as error:
        raise InvalidToken("satisfaction link is not valid") from error
    if not isinstance(case_id, int) or isinstance(case_id, bool) or case_id < 1:
        raise InvalidToken("satisfaction link is malformed")
    return case_id


def satisfaction_url(case_id: int) -> str:
    base = get_settings().public_url.rstrip("/")
    return f"{base}/s/{make_satisfaction_token(case_id)}"
