"""Twilio's connection overrides: recall's callback URLs ask for retries, and the sandbox
retries exactly as a URL's fragment asks (and only once, on a failed connect, without one)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from channels.callbacks import CONNECTION_OVERRIDES, twilio_callback_url
from channels.sandbox.overrides import MAX_RETRIES, POLICIES, Overrides, split


def test_recall_callback_urls_ask_twilio_to_retry_server_errors() -> None:
    target, overrides = split(twilio_callback_url("/webhooks/twilio/status"))
    assert target.endswith("/webhooks/twilio/status") and "#" not in target
    assert overrides.retries == 5
    assert overrides.retry_after(503, None) and overrides.retry_after(None, "ct")
    assert not overrides.retry_after(403, None), "a refused signature is not retried"


def test_the_query_stays_on_the_signed_url_and_the_fragment_goes() -> None:
    url = twilio_callback_url("/webhooks/twilio/voice", "case_id=7")
    assert url.endswith("?case_id=7" + CONNECTION_OVERRIDES)
    assert split(url)[0].endswith("/webhooks/twilio/voice?case_id=7")


def test_without_a_fragment_twilio_retries_once_and_only_a_failed_connect() -> None:
    _, default = split("https://example.com/webhooks/twilio/sms")
    assert default == Overrides(1, frozenset({"ct"}))
    assert default.retry_after(None, "ct")
    assert not default.retry_after(503, None), "a 503 without overrides is lost"
    assert not default.retry_after(None, "rt")


@given(fragment=st.text(max_size=60))
def test_any_fragment_gives_bounded_known_overrides(fragment: str) -> None:
    target, overrides = split("https://example.com/x#" + fragment)
    assert target == "https://example.com/x"
    assert 0 <= overrides.retries <= MAX_RETRIES
    assert overrides.policy and overrides.policy <= POLICIES


@given(status=st.none() | st.integers(100, 599), error=st.sampled_from([None, "ct", "rt"]))
def test_success_is_never_retried(status: int | None, error: str | None) -> None:
    overrides = Overrides(5, frozenset({"all"}))
    if status is not None and status < 400 and error is None:
        assert not overrides.retry_after(status, error)
