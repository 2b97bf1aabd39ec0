"""Which delivery callbacks are worth processing: only those that can change something."""

from __future__ import annotations

import pytest

from pipeline.inbound.attempt_status import can_change_anything


@pytest.mark.parametrize(
    ("kind", "status", "news"),
    [
        ("sms_status", "queued", False),
        ("sms_status", "sent", False),
        ("sms_status", "delivered", True),
        ("sms_status", "undelivered", True),
        ("sms_status", "failed", True),
        ("call_status", "ringing", False),
        ("call_status", "in-progress", False),
        ("call_status", "completed", True),
        ("call_status", "no-answer", True),
        ("email_event", "processed", False),
        ("email_event", "open", True),
        ("email_event", "bounce", True),
        ("email_event", "unsubscribe", True),
        ("sms_status", "something-new", True),  # unknown: let the domain decide
    ],
)
def test_only_callbacks_that_can_change_something_are_news(
    kind: str, status: str, news: bool
) -> None:
    assert can_change_anything(kind, status) is news
