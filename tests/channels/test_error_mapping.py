"""Every provider error we act on, produced by the sandbox's fault injection and read back
through the real clients: transient ones raise ChannelError, permanent ones are returned."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from channels.base import ChannelError, FailureKind
from channels.errors import classify_delivery_error
from channels.registry import channel_for
from channels.sandbox.runner import SandboxThread
from pipeline.models import Case
from pipeline.notices.outbound import notice_message
from pipeline.settings import get_settings
from tests.channels.channels_testkit import Receiver

MakeCase = Callable[..., Case]


@pytest.mark.parametrize(
    ("channel", "phone", "code"),
    [
        ("sms", "+15550009911", "21211"),
        ("sms", "+15550009910", "21610"),
        ("sms", "+15550009914", "21614"),
        ("sms", "+15550009935", "21635"),
        ("sms", "not-a-number", "21211"),
        ("voice", "+15550009911", "21211"),
        ("voice", "+15550009935", "21635"),
    ],
)
def test_permanent_twilio_errors(
    sandbox: SandboxThread, make_case: MakeCase, channel: str, phone: str, code: str
) -> None:
    result = channel_for(channel).send(notice_message(make_case(phone=phone), channel, 0))
    assert result.failure is not None
    assert (result.failure.kind, result.failure.code) == (FailureKind.PERMANENT, code)
    assert result.failure.reason


def test_bad_email_address_is_permanent(sandbox: SandboxThread, make_case: MakeCase) -> None:
    result = channel_for("email").send(
        notice_message(make_case(email="someone@nowhere.invalid"), "email", 0)
    )
    assert result.failure is not None
    assert (result.failure.kind, result.failure.code) == (FailureKind.PERMANENT, "400")
    assert "bad email address" in result.failure.reason


def test_missing_address_is_permanent(sandbox: SandboxThread, make_case: MakeCase) -> None:
    case = make_case(phone=None, email=None)
    for kind in ("sms", "voice", "email"):
        failure = channel_for(kind).send(notice_message(case, kind, 0)).failure
        assert failure is not None and failure.code == "no_address"
    assert list(sandbox.state.requests) == []


@pytest.mark.parametrize("channel", ["sms", "voice", "email"])
@pytest.mark.parametrize(
    ("faults", "codes"),
    [
        ({"rate_429": 1.0}, {"20429", "429"}),
        ({"rate_5xx": 1.0}, {"20500", "500", "503"}),
    ],
)
def test_rate_limits_and_server_errors_are_transient(
    sandbox: SandboxThread,
    make_case: MakeCase,
    channel: str,
    faults: dict[str, float],
    codes: set[str],
) -> None:
    sandbox.configure(faults=faults)
    with pytest.raises(ChannelError) as raised:
        channel_for(channel).send(notice_message(make_case(), channel, 0))
    assert raised.value.failure.kind is FailureKind.TRANSIENT
    assert raised.value.failure.code in codes


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_a_slow_provider_is_a_transient_timeout(
    sandbox: SandboxThread, make_case: MakeCase, monkeypatch: pytest.MonkeyPatch, channel: str
) -> None:
    sandbox.configure(faults={"slow_rate": 1.0, "slow_seconds": 1.5})
    monkeypatch.setenv("RECALL_PROVIDER_TIMEOUT_SECONDS", "0.3")
    get_settings.cache_clear()
    with pytest.raises(ChannelError) as raised:
        channel_for(channel).send(notice_message(make_case(), channel, 0))
    assert raised.value.failure.code == "timeout"
    assert raised.value.failure.transient


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_an_unreachable_provider_is_transient(
    sandbox: SandboxThread, make_case: MakeCase, monkeypatch: pytest.MonkeyPatch, channel: str
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("RECALL_TWILIO_API_BASE", closed)
    monkeypatch.setenv("RECALL_SENDGRID_API_BASE", closed)
    get_settings.cache_clear()
    with pytest.raises(ChannelError) as raised:
        channel_for(channel).send(notice_message(make_case(), channel, 0))
    assert raised.value.failure.code == "connection"


def test_wrong_credentials_never_blame_the_recipient(
    sandbox: SandboxThread, make_case: MakeCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECALL_TWILIO_AUTH_TOKEN", "wrong")
    get_settings.cache_clear()
    with pytest.raises(ChannelError) as raised:
        channel_for("sms").send(notice_message(make_case(), "sms", 0))
    assert raised.value.failure.transient and "credentials" in raised.value.failure.reason


@pytest.mark.parametrize(("phone", "code"), [("+15550009906", "30006"), ("+15550009903", "30003")])
def test_delivery_failures_arrive_in_the_status_callback(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase, phone: str, code: str
) -> None:
    result = channel_for("sms").send(notice_message(make_case(phone=phone), "sms", 0))
    assert result.ok  # the API accepted it; the carrier did not deliver
    sandbox.wait_idle()
    final = receiver.at("/webhooks/twilio/status")[-1].form
    assert (final["MessageStatus"], final["ErrorCode"]) == ("undelivered", code)


def test_delivery_error_classification() -> None:
    assert classify_delivery_error("30006").kind is FailureKind.PERMANENT
    # 30003 (handset unreachable) earns one more try, then it is permanent.
    assert classify_delivery_error("30003", previous_failures=0).kind is FailureKind.TRANSIENT
    assert classify_delivery_error("30003", previous_failures=1).kind is FailureKind.PERMANENT
    assert classify_delivery_error(30008).kind is FailureKind.TRANSIENT
    assert classify_delivery_error("39999").kind is FailureKind.PERMANENT
