"""Per-source rate limits on links and webhooks, never on a signed callback, and the
questions a response link may send counted against the per-person email cap (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from pipeline.privacy.tokens import make_response_token
from pipeline.settings import Settings
from tests.web.support import (
    FORM,
    PUBLIC_URL,
    TWILIO_TOKEN,
    make_case,
    stored,
    stub_broker,
    twilio_headers,
)
from web.app import create_app
from web.rate_limits import MAX_SOURCES, TokenBuckets

SECRET = "rate-limit-test-secret"
LATER = datetime.now(UTC) + timedelta(days=7)
SMS_PATH = "/webhooks/twilio/sms"


def _client(
    engine: Engine, *, client: tuple[str, int] = ("testclient", 50000), **overrides: object
) -> TestClient:
    values: dict[str, object] = {
        "public_url": PUBLIC_URL,
        "twilio_auth_token": TWILIO_TOKEN,
        "secret_key": SECRET,
        "link_requests_per_minute": 5,
        "unsigned_webhooks_per_minute": 5,
    }
    app = create_app(settings=Settings(_env_file=None, **(values | overrides)), engine=engine)  # type: ignore[call-arg, arg-type]
    return TestClient(app, follow_redirects=False, client=client)


@pytest.fixture
def client(sqlite_engine: Engine) -> Iterator[TestClient]:
    stub_broker().flush_all()
    with _client(sqlite_engine) as test_client:
        yield test_client
    stub_broker().flush_all()


def test_a_link_flood_from_one_address_is_told_when_to_come_back(client: TestClient) -> None:
    codes = [client.get("/r/not-a-token").status_code for _ in range(8)]
    assert codes[:5] == [400] * 5 and codes[5:] == [429] * 3
    refused = client.get("/r/not-a-token")
    assert int(refused.headers["retry-after"]) >= 1
    assert "try again in" in refused.json()["error"]


def test_unsigned_junk_is_limited_but_a_signed_callback_always_gets_through(
    client: TestClient, sqlite_engine: Engine
) -> None:
    codes = [client.post(SMS_PATH, data={"Body": "x"}).status_code for _ in range(8)]
    assert codes[:5] == [403] * 5 and codes[5:] == [429] * 3
    forged = {**FORM, "X-Twilio-Signature": "AAAA"}
    assert client.post(SMS_PATH, data={"Body": "x"}, headers=forged).status_code == 403
    for i in range(3):
        params = {"MessageSid": f"SM{i:032d}", "From": "+15551230001", "Body": "YES"}
        signed = client.post(
            SMS_PATH, data=params, headers=twilio_headers(PUBLIC_URL + SMS_PATH, params)
        )
        assert signed.status_code == 200
    assert len(stored(sqlite_engine)) == 3


def test_link_questions_count_against_the_daily_email_cap(sqlite_engine: Engine) -> None:
    case_id = make_case(sqlite_engine)
    query = make_response_token(case_id, "query", LATER, secret_key=SECRET)
    agree = make_response_token(case_id, "agree", LATER, secret_key=SECRET)
    with _client(sqlite_engine, max_emails_per_day=2, link_requests_per_minute=100) as client:
        for i in range(2):
            sent = client.post(f"/r/{query}", data={"answer": "query", "text": f"question {i}"})
            assert sent.status_code == 303
        third = client.post(f"/r/{query}", data={"answer": "query", "text": "question 2"})
        assert third.status_code == 429 and "as many questions as we take" in third.text
        # Another of the case's links is the same person: capped too.
        other = client.post(f"/r/{agree}", data={"answer": "query", "text": "question 3"})
        assert other.status_code == 429
        # An answer is not a question: it is always taken.
        assert client.post(f"/r/{agree}", data={"answer": "agree"}).status_code == 303
    assert len(stored(sqlite_engine)) == 3


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    per_minute=st.integers(1, 100),
    steps=st.lists(st.tuples(st.floats(0, 5), st.booleans()), max_size=60),
)
def test_a_bucket_never_admits_more_than_its_rate_allows(
    per_minute: int, steps: list[tuple[float, bool]]
) -> None:
    now = [0.0]
    buckets = TokenBuckets(per_minute, clock=lambda: now[0])
    admitted = 0
    for delay, _ in steps:
        now[0] += delay
        if buckets.wait("a") == 0:
            buckets.spend("a")
            admitted += 1
    assert admitted <= per_minute + now[0] * per_minute / 60 + 1e-9


def test_forgotten_sources_keep_memory_bounded() -> None:
    buckets = TokenBuckets(10, clock=lambda: 0.0)
    for i in range(MAX_SOURCES + 500):
        buckets.spend(f"10.0.{i // 256}.{i % 256}")
    assert len(buckets.buckets) == MAX_SOURCES


def test_this_machine_is_never_limited(sqlite_engine: Engine) -> None:
    """The sandbox and the demo click every link from loopback; a local proxy passes each
    client's own address."""
    with _client(sqlite_engine, client=("127.0.0.1", 50000)) as local:
        codes = {local.get("/r/not-a-token").status_code for _ in range(12)}
    assert codes == {400}
