"""The hostile-input run (issue 13): schemathesis against the OpenAPI schema, which lists
every status code each route can answer, and hypothesis against every webhook and the
response-link endpoint, unsigned and hostile — never a 5xx, an undocumented status, or a
body read into memory past its limit.

Bounded for CI: fixed example counts, derandomized, on SQLite (the signed-webhook fuzz in
test_web_fuzz.py runs on PostgreSQL too).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from pipeline.privacy.tokens import make_response_token
from pipeline.settings import Settings
from tests.web.support import PUBLIC_URL, TWILIO_TOKEN, SendGridKeys, make_case, stub_broker
from web.app import create_app
from web.limits import body_limit

SECRET = "hostile-input-secret"
KEYS = SendGridKeys.generate()
BASIC = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
EXAMPLES = 25
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
WEBHOOKS = [
    "/webhooks/twilio/sms",
    "/webhooks/twilio/status",
    "/webhooks/twilio/voice",
    "/webhooks/twilio/voice/gather",
    "/webhooks/twilio/voice/record",
    "/webhooks/twilio/call-status",
    "/webhooks/sendgrid/events",
]


def _app(engine: Engine) -> FastAPI:
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "twilio_auth_token": TWILIO_TOKEN,
        "sendgrid_webhook_public_key": KEYS.public_b64,
        "secret_key": SECRET,
        # Generous: the run is about what each request does, not about being throttled.
        "link_requests_per_minute": 100_000,
        "unsigned_webhooks_per_minute": 100_000,
        "login_failures_per_address": 100_000,
    }
    return create_app(settings=Settings(_env_file=None, **values), engine=engine)  # type: ignore[call-arg]


@pytest.fixture
def app(sqlite_engine: Engine) -> Iterator[FastAPI]:
    stub_broker().flush_all()
    yield _app(sqlite_engine)
    stub_broker().flush_all()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


# --- schemathesis: every operation in the schema ----------------------------------------


# The schema's operations, known without an app (the schema is the app's own, in code); the
# schemathesis pytest plugin's lazy loader does not work with this pytest, so each
# operation is a parameter and its strategy is drawn from in the test.
OPERATIONS = sorted(
    f"{method.upper()} {path}"
    for path, methods in create_app().openapi()["paths"].items()
    for method in methods
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", OPERATIONS)
def test_every_operation_answers_only_documented_statuses(
    app: FastAPI, label: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=BASIC)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    if mode == GenerationMode.NEGATIVE and not _has_inputs(operation.definition.raw):
        pytest.skip("nothing to send wrong: the operation takes no input")

    statuses: list[int] = []

    @HOSTILE
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call_and_validate(
            headers=BASIC,
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
        )
        statuses.append(response.status_code)

    run()
    # The count CI's log shows (pytest -s / -rA): how hard each operation was tried.
    print(
        f"schemathesis {mode} {label}: {len(statuses)} requests, statuses {sorted(set(statuses))}"
    )
    assert statuses


def _has_inputs(definition: dict[str, Any]) -> bool:
    return bool(definition.get("parameters") or definition.get("requestBody"))


# --- hypothesis: webhooks and links, unsigned and hostile --------------------------------

header_names = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20)
hostile_headers = st.dictionaries(
    header_names.filter(lambda h: h not in ("content-length", "host", "transfer-encoding")),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=100),
    max_size=80,
)
content_types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/json",
        "text/plain",
        "",
        "multipart/form-data",
    ]
)


@pytest.mark.parametrize("path", WEBHOOKS)
@HOSTILE
@given(headers=hostile_headers, content_type=content_types, body=st.binary(max_size=2048))
def test_unsigned_hostile_webhooks_never_5xx(
    client: TestClient, path: str, headers: dict[str, str], content_type: str, body: bytes
) -> None:
    answer = client.post(path, content=body, headers={**headers, "content-type": content_type})
    assert answer.status_code in (400, 403, 413, 429, 431), answer.text


@pytest.fixture
def case_id(sqlite_engine: Engine) -> int:
    return make_case(sqlite_engine)


token_answers = st.sampled_from(["agree", "refuse", "query", "opt_out"])
link_forms = st.dictionaries(
    st.sampled_from(["answer", "text", "csrf_token", "x"]) | st.text(max_size=8),
    st.sampled_from(["agree", "refuse", "query", "opt_out", "", "AGREE"]) | st.text(max_size=300),
    max_size=8,
)


@HOSTILE
@given(token_answer=token_answers, form=link_forms, method=st.sampled_from(["GET", "POST"]))
def test_a_genuine_link_with_any_form_never_5xx(
    client: TestClient, case_id: int, token_answer: str, form: dict[str, str], method: str
) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    token = make_response_token(case_id, token_answer, later, secret_key=SECRET)
    answer = client.request(method, f"/r/{token}", data=form if method == "POST" else None)
    assert answer.status_code in (200, 303, 400, 410, 429), answer.text


@HOSTILE
@given(token=st.text(max_size=300), method=st.sampled_from(["GET", "POST"]))
def test_any_token_text_never_5xx(client: TestClient, token: str, method: str) -> None:
    from urllib.parse import quote

    answer = client.request(method, "/r/" + quote(token, safe=""), data={"answer": "agree"})
    assert answer.status_code in (200, 303, 400, 404, 405, 410, 429), answer.text


@pytest.mark.parametrize("path", [*WEBHOOKS, "/r/some-token"])
@pytest.mark.parametrize("declared", [True, False])
def test_a_huge_body_is_never_read_past_its_limit(app: FastAPI, path: str, declared: bool) -> None:
    """Straight through ASGI, counting what the app pulls: a test client would buffer the
    whole body itself before the app saw a byte."""
    chunk, total = 65_536, 256 * 1024 * 1024
    pulled, answer = asyncio.run(_post_stream(app, path, chunk, total, declared))
    # Refused at its declared length, or cut off at the limit while read; a bad link token
    # is refused without reading the body at all.
    assert answer == 413 or (answer == 400 and path.startswith("/r/") and pulled <= chunk)
    assert pulled <= body_limit(path) + chunk  # never read to its 256 MiB


async def _post_stream(
    app: FastAPI, path: str, chunk: int, total: int, declared: bool
) -> tuple[int, int]:
    pulled, status = 0, 0
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if declared:
        headers.append((b"content-length", str(total).encode()))
    scope = {
        "type": "http", "http_version": "1.1", "method": "POST", "path": path,
        "raw_path": path.encode(), "query_string": b"", "headers": headers,
        "client": ("127.0.0.9", 5000), "server": ("127.0.0.1", 8000), "scheme": "http",
        "root_path": "", "app": app,
    }  # fmt: skip
    body = b"a" * chunk

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += chunk
        return {"type": "http.request", "body": body, "more_body": pulled < total}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return pulled, status
