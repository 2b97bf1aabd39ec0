"""Webhooks: signature checks, storage keyed by provider id, enqueue-once, 4xx on bad input.

Runs on SQLite and PostgreSQL (the ``engine`` fixture); requests are signed with Twilio's own
RequestValidator and SendGrid's ECDSA scheme.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pipeline.db import make_engine
from pipeline.settings import Settings
from tests.web.support import (
    FORM,
    PUBLIC_URL,
    TWILIO_TOKEN,
    SendGridKeys,
    enqueued,
    json_body,
    make_case,
    stored,
    stub_broker,
    twilio_headers,
)
from web.app import create_app

SMS_URL = f"{PUBLIC_URL}/webhooks/twilio/sms"
SMS = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "AccountSid": "AC00000000000000000000000000000000",
    "From": "+15551230001",
    "To": "+15005550006",
    "Body": "YES 同意",
}


@pytest.fixture(scope="module")
def sendgrid_keys() -> SendGridKeys:
    return SendGridKeys.generate()


@pytest.fixture
def settings(sendgrid_keys: SendGridKeys) -> Settings:
    return Settings(
        public_url=PUBLIC_URL,
        twilio_auth_token=TWILIO_TOKEN,
        sendgrid_webhook_public_key=sendgrid_keys.public_b64,
    )


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    stub_broker().flush_all()
    with TestClient(create_app(settings=settings, engine=engine)) as client:
        yield client
    stub_broker().flush_all()


def post_twilio(client: TestClient, path: str, params: dict[str, str], **kw: object) -> object:
    headers = twilio_headers(PUBLIC_URL + path, params)
    return client.post(path, data=params, headers=headers)


# --- inbound SMS ------------------------------------------------------------------------


def test_signed_sms_is_stored_and_enqueued_once(client: TestClient, engine: Engine) -> None:
    response = client.post("/webhooks/twilio/sms", data=SMS, headers=twilio_headers(SMS_URL, SMS))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Response" in response.text and "<Message" not in response.text

    [event] = stored(engine)
    assert (event.provider, event.kind, event.provider_event_id) == (
        "twilio",
        "sms",
        SMS["MessageSid"],
    )
    assert event.payload["Body"] == "YES 同意" and event.payload["From"] == SMS["From"]
    assert event.handled_at is None
    assert enqueued() == [[event.id]]


def test_replayed_sms_changes_nothing(client: TestClient, engine: Engine) -> None:
    for _ in range(3):
        response = client.post(
            "/webhooks/twilio/sms", data=SMS, headers=twilio_headers(SMS_URL, SMS)
        )
        assert response.status_code == 200
    assert len(stored(engine)) == 1
    assert len(enqueued()) == 1


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(FORM, id="unsigned"),
        pytest.param(twilio_headers(SMS_URL, SMS, token="not-our-token"), id="wrong-token"),
        pytest.param(twilio_headers(SMS_URL, {**SMS, "Body": "NO"}), id="tampered-body"),
        pytest.param(
            twilio_headers(f"{PUBLIC_URL}/webhooks/twilio/status", SMS), id="other-endpoint"
        ),
        pytest.param({**FORM, "X-Twilio-Signature": "AAAA"}, id="garbage"),
    ],
)
def test_forged_or_unsigned_sms_is_refused(
    client: TestClient, engine: Engine, headers: dict[str, str]
) -> None:
    response = client.post("/webhooks/twilio/sms", data=SMS, headers=headers)
    assert response.status_code == 403
    assert stored(engine) == []
    assert enqueued() == []


def test_signature_uses_public_url_not_host_header(client: TestClient, engine: Engine) -> None:
    # Behind a proxy the app sees an internal Host; Twilio signed the public URL.
    proxied = {
        "Host": "10.0.0.7:8000",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "http",
    }
    signed_for_host = twilio_headers("http://10.0.0.7:8000/webhooks/twilio/sms", SMS)
    refused = client.post("/webhooks/twilio/sms", data=SMS, headers={**signed_for_host, **proxied})
    assert refused.status_code == 403
    signed_for_public = twilio_headers(SMS_URL, SMS)
    accepted = client.post(
        "/webhooks/twilio/sms", data=SMS, headers={**signed_for_public, **proxied}
    )
    assert accepted.status_code == 200
    assert len(stored(engine)) == 1


def test_public_url_with_path_prefix_and_query(engine: Engine, settings: Settings) -> None:
    # The proxy serves us under /recall and strips it; Twilio called the full URL + query.
    settings = settings.model_copy(update={"public_url": "https://example.org/recall/"})
    url = "https://example.org/recall/webhooks/twilio/sms?tenant=a%20b&x=1"
    with TestClient(create_app(settings=settings, engine=engine)) as client:
        ok = client.post(
            "/webhooks/twilio/sms?tenant=a%20b&x=1", data=SMS, headers=twilio_headers(url, SMS)
        )
        assert ok.status_code == 200
        [event] = stored(engine)
        assert event.payload["_query"] == {"tenant": "a b", "x": "1"}
        moved = client.post(
            "/webhooks/twilio/sms?tenant=other&x=1", data=SMS, headers=twilio_headers(url, SMS)
        )
        assert moved.status_code == 403


def test_default_port_in_public_url_is_tolerated(engine: Engine, settings: Settings) -> None:
    settings = settings.model_copy(update={"public_url": "https://recall.example.com:443"})
    with TestClient(create_app(settings=settings, engine=engine)) as client:
        response = client.post(
            "/webhooks/twilio/sms", data=SMS, headers=twilio_headers(SMS_URL, SMS)
        )
    assert response.status_code == 200


@pytest.mark.parametrize("missing", ["MessageSid"])
def test_signed_sms_without_required_field_is_400(
    client: TestClient, engine: Engine, missing: str
) -> None:
    params = {k: v for k, v in SMS.items() if k != missing}
    response = client.post(
        "/webhooks/twilio/sms", data=params, headers=twilio_headers(SMS_URL, params)
    )
    assert response.status_code == 400
    assert stored(engine) == []


def test_signed_sms_with_malformed_sid_is_400(client: TestClient, engine: Engine) -> None:
    params = {**SMS, "MessageSid": "SM\x00" + "x" * 100}
    response = client.post(
        "/webhooks/twilio/sms", data=params, headers=twilio_headers(SMS_URL, params)
    )
    assert response.status_code == 400
    assert stored(engine) == []


def test_signed_json_body_is_400_not_500(client: TestClient, engine: Engine) -> None:
    # Signed over the URL alone (no form fields), but the body is not a form.
    headers = twilio_headers(SMS_URL, {})
    headers["Content-Type"] = "application/json"
    response = client.post(
        "/webhooks/twilio/sms", content=b'{"MessageSid": "SM1"}', headers=headers
    )
    assert response.status_code == 400
    assert stored(engine) == []


# --- status callbacks -------------------------------------------------------------------


def test_each_message_status_is_stored_once(client: TestClient, engine: Engine) -> None:
    sid = "SMaaaabbbbccccddddeeeeffff00001111"
    for status in ["sent", "delivered", "sent", "delivered"]:
        params = {"MessageSid": sid, "MessageStatus": status, "To": "+15551230001"}
        response = post_twilio(client, "/webhooks/twilio/status", params)
        assert response.status_code == 204  # type: ignore[attr-defined]
    events = stored(engine)
    assert [e.provider_event_id for e in events] == [f"{sid}:sent", f"{sid}:delivered"]
    assert {e.kind for e in events} == {"sms_status"}
    # "sent" is what the send itself recorded: stored as handled, not processed again.
    sent, delivered = events
    assert sent.handled_at is not None and sent.outcome == "status:sent:no-news"
    assert enqueued() == [[delivered.id]]


def test_a_followups_statuses_are_stored_handled_and_not_enqueued(
    client: TestClient, engine: Engine
) -> None:
    sid = "SMffff0000ffff0000ffff0000ffff0000"
    for status in ["sent", "delivered", "undelivered"]:
        params = {"MessageSid": sid, "MessageStatus": status, "To": "+15551230001"}
        response = post_twilio(client, "/webhooks/twilio/status?followup=1", params)
        assert response.status_code == 204  # type: ignore[attr-defined]
    events = stored(engine)
    assert [e.outcome for e in events] == [
        "followup:sent",
        "followup:delivered",
        "followup:undelivered",
    ]
    assert all(e.handled_at is not None for e in events)
    assert enqueued() == []


def test_a_followup_mark_on_a_forged_url_is_refused(client: TestClient, engine: Engine) -> None:
    """The mark is part of the signed URL: moved onto a notice's callback it fails the check."""
    params = {"MessageSid": "SM1", "MessageStatus": "undelivered"}
    headers = twilio_headers(PUBLIC_URL + "/webhooks/twilio/status", params)
    response = client.post("/webhooks/twilio/status?followup=1", data=params, headers=headers)
    assert response.status_code == 403
    assert stored(engine) == [] and enqueued() == []


def test_status_without_status_field_is_400(client: TestClient, engine: Engine) -> None:
    response = post_twilio(client, "/webhooks/twilio/status", {"MessageSid": "SM1"})
    assert response.status_code == 400  # type: ignore[attr-defined]


def test_each_call_status_is_stored_once(client: TestClient, engine: Engine) -> None:
    sid = "CA0123456789abcdef0123456789abcdef"
    for status in ["ringing", "completed", "completed"]:
        response = post_twilio(
            client, "/webhooks/twilio/call-status?case_id=7", {"CallSid": sid, "CallStatus": status}
        )
        assert response.status_code == 204  # type: ignore[attr-defined]
    events = stored(engine)
    assert [e.provider_event_id for e in events] == [f"{sid}:ringing", f"{sid}:completed"]
    assert events[0].payload["_query"] == {"case_id": "7"}
    # Ringing is progress the call's placement already recorded; only "completed" is news.
    assert enqueued() == [[events[1].id]]


# --- voice ------------------------------------------------------------------------------


def gather(client: TestClient, case_id: int, digits: str, sid: str = "CA01") -> object:
    return post_twilio(
        client,
        f"/webhooks/twilio/voice/gather?case_id={case_id}",
        {"CallSid": sid, "Digits": digits},
    )


def test_keypress_is_stored_once_and_thanked_in_the_users_language(
    client: TestClient, engine: Engine
) -> None:
    case_id = make_case(engine, locale="zh-CN")
    for _ in range(2):
        response = gather(client, case_id, "1")
        assert response.status_code == 200  # type: ignore[attr-defined]
        twiml = response.text  # type: ignore[attr-defined]
        assert 'language="cmn-CN"' in twiml and re.search(r"[\u4e00-\u9fff]", twiml)
    [event] = stored(engine)
    assert (event.kind, event.provider_event_id) == ("keypress", "CA01:gather:1")
    assert event.payload["_query"] == {"case_id": str(case_id)}
    assert enqueued() == [[event.id]]


def test_repeat_key_is_stored_but_not_processed(client: TestClient, engine: Engine) -> None:
    response = gather(client, 987654, "9")  # no such case: nothing to repeat, say goodbye
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert "Goodbye" in response.text  # type: ignore[attr-defined]
    [event] = stored(engine)
    assert event.outcome == "repeat" and event.handled_at is not None
    assert enqueued() == []


def test_repeat_key_replays_the_notice(client: TestClient, engine: Engine) -> None:
    case_id = make_case(engine)
    response = gather(client, case_id, "9")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert f"/webhooks/twilio/voice/gather?case_id={case_id}" in response.text  # type: ignore[attr-defined]


def test_question_keypress_records_and_the_recording_is_stored(
    client: TestClient, engine: Engine
) -> None:
    case_id = make_case(engine)
    response = gather(client, case_id, "3")
    record_url = f"{PUBLIC_URL}/webhooks/twilio/voice/record?case_id={case_id}"
    assert f'action="{record_url}"' in response.text  # type: ignore[attr-defined]
    params = {"CallSid": "CA01", "RecordingSid": "RE0123", "RecordingUrl": "https://x/r.wav"}
    path = f"/webhooks/twilio/voice/record?case_id={case_id}"
    for _ in range(2):
        assert post_twilio(client, path, params).status_code == 200  # type: ignore[attr-defined]
    recording = [e for e in stored(engine) if e.kind == "recording"]
    assert [e.provider_event_id for e in recording] == ["CA01:recording:RE0123"]
    assert len(enqueued()) == 2  # the keypress and the recording


def test_empty_keypress_stores_nothing(client: TestClient, engine: Engine) -> None:
    response = gather(client, 1, "")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert stored(engine) == []


@pytest.mark.parametrize(
    "query", ["", "?case_id=", "?case_id=abc", "?case_id=-1", "?case_id=%D9%A1%D9%A2"]
)
def test_voice_without_a_usable_case_id_is_400(
    client: TestClient, engine: Engine, query: str
) -> None:
    params = {"CallSid": "CA01", "AnsweredBy": "human"}
    response = post_twilio(client, f"/webhooks/twilio/voice{query}", params)
    assert response.status_code == 400  # type: ignore[attr-defined]


def test_voice_for_unknown_case_is_404(client: TestClient) -> None:
    response = post_twilio(client, "/webhooks/twilio/voice?case_id=424242", {"CallSid": "CA01"})
    assert response.status_code == 404  # type: ignore[attr-defined]


def test_voice_serves_the_notice_twiml(client: TestClient, engine: Engine) -> None:
    case_id = make_case(engine)
    human = post_twilio(client, f"/webhooks/twilio/voice?case_id={case_id}", {"CallSid": "CA01"})
    machine = post_twilio(
        client,
        f"/webhooks/twilio/voice?case_id={case_id}",
        {"CallSid": "CA01", "AnsweredBy": "machine_end_beep"},
    )
    assert human.status_code == machine.status_code == 200  # type: ignore[attr-defined]
    assert "<Gather" in human.text and human.text != machine.text  # type: ignore[attr-defined]


# --- SendGrid ---------------------------------------------------------------------------

EVENTS = [
    {
        "email": "ada@example.com",
        "event": "delivered",
        "sg_event_id": "ZGVsaXZlcmVkLTEtYWJj",
        "case_id": "1",
    },
    {"email": "ada@example.com", "event": "open", "sg_event_id": "b3Blbi0xLWFiYw", "case_id": "1"},
]


def test_signed_sendgrid_events_are_stored_one_by_one(
    client: TestClient, engine: Engine, sendgrid_keys: SendGridKeys
) -> None:
    body = json_body(EVENTS)
    for _ in range(2):  # the second delivery is a replay
        response = client.post(
            "/webhooks/sendgrid/events", content=body, headers=sendgrid_keys.headers(body)
        )
        assert response.status_code == 204
    events = stored(engine)
    assert [e.provider_event_id for e in events] == [e["sg_event_id"] for e in EVENTS]
    assert events[1].payload == EVENTS[1]
    assert {(e.provider, e.kind) for e in events} == {("sendgrid", "email_event")}
    assert sorted(enqueued()) == sorted([[e.id] for e in events])


def test_sendgrid_batch_with_a_known_event_enqueues_only_the_new_one(
    client: TestClient, engine: Engine, sendgrid_keys: SendGridKeys
) -> None:
    first = json_body(EVENTS[:1])
    client.post("/webhooks/sendgrid/events", content=first, headers=sendgrid_keys.headers(first))
    both = json_body(EVENTS)
    client.post("/webhooks/sendgrid/events", content=both, headers=sendgrid_keys.headers(both))
    assert len(stored(engine)) == 2
    assert len(enqueued()) == 2


def test_sendgrid_forgeries_are_refused(
    client: TestClient, engine: Engine, sendgrid_keys: SendGridKeys
) -> None:
    body = json_body(EVENTS)
    other = SendGridKeys.generate()
    good = sendgrid_keys.headers(body)
    attempts = [
        {"Content-Type": "application/json"},
        other.headers(body),
        {**good, "X-Twilio-Email-Event-Webhook-Timestamp": "1"},
        {**good, "X-Twilio-Email-Event-Webhook-Signature": "not base64!"},
    ]
    for headers in attempts:
        response = client.post("/webhooks/sendgrid/events", content=body, headers=headers)
        assert response.status_code == 403
    tampered = client.post(
        "/webhooks/sendgrid/events", content=body.replace(b"open", b"spam"), headers=good
    )
    assert tampered.status_code == 403
    assert stored(engine) == []


def test_sendgrid_without_configured_key_refuses_everything(
    engine: Engine, settings: Settings, sendgrid_keys: SendGridKeys
) -> None:
    settings = settings.model_copy(update={"sendgrid_webhook_public_key": None})
    body = json_body(EVENTS)
    with TestClient(create_app(settings=settings, engine=engine)) as client:
        response = client.post(
            "/webhooks/sendgrid/events", content=body, headers=sendgrid_keys.headers(body)
        )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"event": "open"}',
        b'[{"sg_event_id": "a", "x": NaN}]',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_signed_malformed_sendgrid_body_is_400(
    client: TestClient, engine: Engine, sendgrid_keys: SendGridKeys, body: bytes
) -> None:
    response = client.post(
        "/webhooks/sendgrid/events", content=body, headers=sendgrid_keys.headers(body)
    )
    assert response.status_code == 400
    assert stored(engine) == []


def test_each_sendgrid_event_is_accepted_or_rejected_on_its_own(
    client: TestClient, engine: Engine, sendgrid_keys: SendGridKeys
) -> None:
    # One good event among a number, an event without an id, one with a malformed id and
    # one whose text PostgreSQL cannot store (a lone surrogate, a NUL).
    batch = [
        1,
        {"email": "ada@example.com", "event": "open", "case_id": "1"},
        {"email": "bob@example.com", "event": "open", "sg_event_id": 12},
        {"email": "cy@example.com", "event": "bounce", "sg_event_id": "\u00e9", "reason": "x"},
        {"email": "\udcff@example.com", "event": "unsubscribe", "sg_event_id": "s1", "n": "\x00"},
        EVENTS[0],
    ]
    body = json.dumps(batch).encode()
    for _ in range(2):  # SendGrid retries a batch: the made-up ids are stable
        response = client.post(
            "/webhooks/sendgrid/events", content=body, headers=sendgrid_keys.headers(body)
        )
        assert response.status_code == 204
    events = {e.provider_event_id: e for e in stored(engine)}
    assert len(events) == 5, "every event object stored once, the number dropped"
    assert {"s1", EVENTS[0]["sg_event_id"]} <= set(events)
    made_up = [key for key in events if key.startswith("sgc:")]
    assert len(made_up) == 3
    assert events["s1"].payload == {
        "email": "\ufffd@example.com",
        "event": "unsubscribe",
        "sg_event_id": "s1",
        "n": "\ufffd",
    }


# --- failure of our own dependencies ----------------------------------------------------


def test_database_down_is_503_so_the_provider_retries(settings: Settings) -> None:
    dead = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    with TestClient(create_app(settings=settings, engine=dead)) as client:
        response = client.post(
            "/webhooks/twilio/sms", data=SMS, headers=twilio_headers(SMS_URL, SMS)
        )
    assert response.status_code == 503
    assert response.headers["retry-after"]
