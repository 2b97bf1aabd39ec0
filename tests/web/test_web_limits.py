"""What an anonymous client can send is bounded (issue 13): metric labels come from route
templates, bodies and headers have limits enforced before parsing, ids are 64-bit, every
answer carries the security headers, /docs is behind the login, stale SendGrid posts are
refused."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pipeline.settings import Settings
from tests.web.support import (
    FORM,
    PUBLIC_URL,
    TWILIO_TOKEN,
    SendGridKeys,
    json_body,
    stored,
    stub_broker,
    twilio_headers,
)
from web.app import create_app
from web.limits import MAX_HEADER_COUNT, body_limit

SMS_PATH = "/webhooks/twilio/sms"
SMS = {"MessageSid": "SM0123456789abcdef0123456789abcdef", "From": "+15551230001", "Body": "YES"}
KEYS = SendGridKeys.generate()


@pytest.fixture
def client(sqlite_engine: Engine) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        public_url=PUBLIC_URL,
        twilio_auth_token=TWILIO_TOKEN,
        sendgrid_webhook_public_key=KEYS.public_b64,
    )
    stub_broker().flush_all()
    with TestClient(create_app(settings=settings, engine=sqlite_engine)) as test_client:
        yield test_client
    stub_broker().flush_all()


def test_random_paths_never_become_metric_labels(client: TestClient) -> None:
    for i in range(30):
        client.post(f"/webhooks/random-{i}-x", data={"a": "b"})
        client.get(f"/r/token-{i}/extra/parts")
    client.post(SMS_PATH, data=SMS, headers=twilio_headers(PUBLIC_URL + SMS_PATH, SMS))
    text = client.get("/metrics").text
    assert "random-" not in text and "token-" not in text
    labels = {
        line.split('route="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("recall_webhook_latency_seconds_count")
    }
    # The histogram is the process's: other tests' routes may be there too, but only routes.
    templates = set(create_app().openapi()["paths"])
    assert labels <= templates | {"unmatched", "/r"}
    assert SMS_PATH in labels and "unmatched" in labels


def test_an_oversized_body_is_refused_before_it_is_read(
    client: TestClient, sqlite_engine: Engine
) -> None:
    limit = body_limit(SMS_PATH)
    big = b"Body=" + b"x" * (limit + 1)
    declared = client.post(SMS_PATH, content=big, headers=FORM)
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut off while reading
        for _ in range(64):
            yield b"x" * (limit // 16)

    streamed = client.post(SMS_PATH, content=chunks(), headers=FORM)
    assert streamed.status_code == 413
    assert client.post("/r/any-token", content=b"a" * 20_000, headers=FORM).status_code == 413
    assert stored(sqlite_engine) == []


def test_a_body_under_the_limit_is_served(client: TestClient, sqlite_engine: Engine) -> None:
    params = {**SMS, "Body": "y" * 20_000}
    answer = client.post(
        SMS_PATH, data=params, headers=twilio_headers(PUBLIC_URL + SMS_PATH, params)
    )
    assert answer.status_code == 200
    assert len(stored(sqlite_engine)) == 1


def test_too_many_headers_are_refused(client: TestClient) -> None:
    headers = {f"x-h{i}": "1" for i in range(MAX_HEADER_COUNT + 1)}
    assert client.get("/healthz", headers=headers).status_code == 431
    assert client.get("/healthz", headers={"x-big": "a" * 17_000}).status_code == 431


@pytest.mark.parametrize("path", ["/healthz", "/login", "/r/not-a-token", "/dashboard", "/metrics"])
def test_every_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    headers = client.get(path, follow_redirects=False).headers
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["strict-transport-security"].startswith("max-age=")  # https public URL
    if path in ("/login", "/r/not-a-token", "/dashboard"):
        assert headers["cache-control"] == "no-store"


def test_docs_and_schema_need_a_login(client: TestClient) -> None:
    assert client.get("/openapi.json").status_code == 401
    docs = client.get("/docs", follow_redirects=False)
    assert docs.status_code == 303 and docs.headers["location"].startswith("/login")
    assert client.get("/redoc").status_code == 404
    schema = client.get("/openapi.json", auth=("admin", "admin"))
    assert schema.status_code == 200 and "/api/campaigns" in schema.json()["paths"]


@pytest.mark.parametrize("raw", ["9223372036854775808", "99999999999999999999999", "0", "-1"])
def test_ids_outside_64_bits_are_refused_before_any_query(client: TestClient, raw: str) -> None:
    answer = client.get(f"/api/campaigns/{raw}", auth=("admin", "admin"))
    assert answer.status_code == 422
    assert (
        client.get("/api/campaigns/9223372036854775807", auth=("admin", "admin")).status_code == 404
    )


def test_a_stale_sendgrid_signature_is_refused(client: TestClient, sqlite_engine: Engine) -> None:
    body = json_body([{"sg_event_id": "ev-1", "event": "open", "email": "a@example.com"}])
    old = str(int(time.time()) - 3600)
    stale = client.post("/webhooks/sendgrid/events", content=body, headers=KEYS.headers(body, old))
    assert stale.status_code == 403
    future = str(int(time.time()) + 3600)
    ahead = client.post(
        "/webhooks/sendgrid/events", content=body, headers=KEYS.headers(body, future)
    )
    assert ahead.status_code == 403
    assert stored(sqlite_engine) == []
    fresh = client.post("/webhooks/sendgrid/events", content=body, headers=KEYS.headers(body))
    assert fresh.status_code == 204 and len(stored(sqlite_engine)) == 1


def test_a_dashboard_form_with_too_many_fields_is_refused_before_parsing(
    client: TestClient,
) -> None:
    from web.limits import MAX_FORM_FIELDS

    many = "&".join(f"f{i}=x" for i in range(MAX_FORM_FIELDS + 1))
    for path in ("/login", "/logout", "/dashboard/campaigns/1/pause"):
        answer = client.post(path, content=many, headers=FORM)
        assert answer.status_code == 400 and "form fields" in answer.text, path
    parts = "".join(
        f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'
        for i in range(MAX_FORM_FIELDS + 1)
    )
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    assert client.post("/login", content=parts + "--b--\r\n", headers=multipart).status_code == 400
    few = client.post("/login", data={"username": "a", "password": "b"})
    assert few.status_code == 403  # parsed as usual: no CSRF token
