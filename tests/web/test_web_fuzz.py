"""Hypothesis: whatever a correctly signed request carries, a webhook never answers 5xx.

Signatures are valid (Twilio's RequestValidator, SendGrid's ECDSA scheme), so every example
gets past the 403 and exercises parsing, validation and storage — on PostgreSQL too, which
refuses things SQLite accepts (NUL bytes, for one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from pipeline.settings import Settings
from tests.web.support import PUBLIC_URL, TWILIO_TOKEN, SendGridKeys, stub_broker, twilio_headers
from web.app import create_app

KEYS = SendGridKeys.generate()
TWILIO_PATHS = [
    "/webhooks/twilio/sms",
    "/webhooks/twilio/status",
    "/webhooks/twilio/voice",
    "/webhooks/twilio/voice/gather",
    "/webhooks/twilio/call-status",
    "/webhooks/twilio/voice/record",
]
TWILIO_FIELDS = [
    "MessageSid", "MessageStatus", "CallSid", "CallStatus", "Digits", "AnsweredBy",
    "From", "To", "Body", "AccountSid", "ErrorCode", "RecordingSid",
]  # fmt: skip
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

sid_like = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"(SM|CA)[0-9a-f]{32}", fullmatch=True),
    st.sampled_from(["", " ", "SM1", "x" * 65, "SM\x00", "delivered", "9", "1", "#"]),
)
# Twilio's own field names (each present or not, with hostile values) plus arbitrary extras.
form = st.builds(
    lambda known, extra: {**extra, **known},
    st.fixed_dictionaries({}, optional={field: sid_like for field in TWILIO_FIELDS}),
    st.dictionaries(st.text(max_size=12), st.text(max_size=200), max_size=6),
)
query = st.one_of(
    st.just(""),
    st.builds(
        lambda v: "?case=" + quote(v, safe=""),
        st.one_of(st.text(max_size=12), st.integers().map(str)),
    ),
)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app_settings = Settings(
        public_url=PUBLIC_URL,
        twilio_auth_token=TWILIO_TOKEN,
        sendgrid_webhook_public_key=KEYS.public_b64,
    )
    stub_broker().flush_all()
    with TestClient(create_app(settings=app_settings, engine=engine)) as client:
        yield client
    stub_broker().flush_all()


@pytest.mark.parametrize("path", TWILIO_PATHS)
@FUZZ
@given(query=query, params=form)
def test_signed_twilio_forms_never_5xx(
    client: TestClient, path: str, query: str, params: dict[str, str]
) -> None:
    url = path + query
    response = client.post(url, data=params, headers=twilio_headers(PUBLIC_URL + url, params))
    assert response.status_code < 500, response.text
    assert response.status_code != 403, "a correctly signed request was refused"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
sendgrid_event = st.dictionaries(
    st.sampled_from(["sg_event_id", "event", "email", "case_id", "sg_message_id"])
    | st.text(max_size=8),
    st.one_of(sid_like, json_values),
    max_size=6,
)
sendgrid_body = st.one_of(
    st.lists(sendgrid_event, max_size=5).map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)


@FUZZ
@given(body=sendgrid_body)
def test_signed_sendgrid_bodies_never_5xx(client: TestClient, body: bytes) -> None:
    response = client.post("/webhooks/sendgrid/events", content=body, headers=KEYS.headers(body))
    assert response.status_code < 500, response.text
    if response.status_code == 403:  # only a body that is not UTF-8 cannot be verified
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
