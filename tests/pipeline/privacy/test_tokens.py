from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.privacy.tokens import (
    ExpiredToken,
    InvalidToken,
    make_response_token,
    read_response_token,
)

DEADLINE = datetime(2030, 1, 31, 12, tzinfo=UTC)
BEFORE = DEADLINE - timedelta(days=3)


@pytest.mark.parametrize("answer", ["agree", "refuse", "query"])
def test_round_trip(answer: str) -> None:
    token = make_response_token(42, answer, DEADLINE)
    assert read_response_token(token, BEFORE) == (42, answer)


def test_expires_at_deadline() -> None:
    token = make_response_token(7, "agree", DEADLINE)
    assert read_response_token(token, DEADLINE) == (7, "agree")
    with pytest.raises(ExpiredToken):
        read_response_token(token, DEADLINE + timedelta(seconds=1))


def test_expired_is_an_invalid_token() -> None:
    assert issubclass(ExpiredToken, InvalidToken)


def test_tampered_token_rejected() -> None:
    token = make_response_token(7, "agree", DEADLINE)
    other = make_response_token(8, "refuse", DEADLINE)
    _payload, signature = token.rsplit(".", 1)
    other_payload, _ = other.rsplit(".", 1)
    with pytest.raises(InvalidToken):
        read_response_token(f"{other_payload}.{signature}", BEFORE)
    with pytest.raises(InvalidToken):
        read_response_token(token[:-2], BEFORE)
    with pytest.raises(InvalidToken):
        read_response_token("not-a-token", BEFORE)


def test_other_secret_key_rejected() -> None:
    token = make_response_token(7, "agree", DEADLINE, secret_key="one")
    assert read_response_token(token, BEFORE, secret_key="one") == (7, "agree")
    with pytest.raises(InvalidToken):
        read_response_token(token, BEFORE, secret_key="two")


def test_unknown_answer_refused() -> None:
    with pytest.raises(ValueError, match="answer"):
        make_response_token(7, "maybe", DEADLINE)
