"""Twilio SMS: the notice (or a follow-up) as a text message, with a status callback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from twilio.base.exceptions import TwilioRestException

from channels.base import (
    Channel,
    ChannelError,
    ChannelKind,
    ChannelSpec,
    FailureKind,
    Outbound,
    SendFailure,
    SendResult,
)
from channels.callbacks import status_callback_url
from channels.clients import twilio_client
from channels.errors import NETWORK_ERRORS, classify_network_error, classify_twilio_error
from channels.segments import count_segments
from pipeline.clock import utcnow
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

STATUS_PATH = "/webhooks/twilio/status"
# Twilio accepts a ValidityPeriod of 1 s to 10 h.
MAX_VALIDITY_SECONDS = 36_000


def validity_seconds(message: Outbound, now: datetime) -> int:
    """Twilio's ValidityPeriod for ``message``: ``RECALL_SMS_VALIDITY_SECONDS``, cut
    short by the campaign's deadline. A message Twilio could not send by then expires
    (status ``failed``) instead of arriving hours late, into someone's night or after the
    recall closed."""
    limit = get_settings().sms_validity_seconds
    deadline = message.deadline
    if deadline is not None:
        deadline = deadline if deadline.tzinfo else deadline.replace(tzinfo=UTC)
        limit = min(limit, int((deadline - now).total_seconds()))
    return max(1, min(limit, MAX_VALIDITY_SECONDS))


def sender_params() -> dict[str, str]:
    """A Messaging Service when one is set (Twilio then picks the number), else From."""
    settings = get_settings()
    if settings.twilio_messaging_service_sid:
        return {"messaging_service_sid": settings.twilio_messaging_service_sid}
    if not settings.twilio_from:
        raise ValueError("set RECALL_TWILIO_FROM or RECALL_TWILIO_MESSAGING_SERVICE_SID")
    return {"from_": settings.twilio_from}


def call_twilio(create: Any, case_id: int, **params: Any) -> Any:
    """Run one Twilio create call; transient errors raise ChannelError, permanent return a
    SendFailure instead of the created resource."""
    try:
        return create(**params)
    except TwilioRestException as error:
        failure = classify_twilio_error(error)
    except NETWORK_ERRORS as error:
        failure = classify_network_error(error)
    log.warning("twilio.send_failed case=%s code=%s kind=%s", case_id, failure.code, failure.kind)
    if failure.transient:
        raise ChannelError(failure)
    return failure


def no_address(what: str) -> SendResult:
    return SendResult(failure=SendFailure(FailureKind.PERMANENT, "no_address", f"no {what}"))


class SmsChannel(Channel):
    spec = ChannelSpec(
        ChannelKind.SMS,
        "phone",
        takes_replies=True,
        cost_unit="segment",
        order=1,
        cap_setting="max_sms_per_day",
        expires_unsent=True,
    )

    def send(self, message: Outbound) -> SendResult:
        return self.send_text(message)

    def send_text(self, message: Outbound) -> SendResult:
        if not message.address:
            return no_address("phone number on file")
        callback = status_callback_url(STATUS_PATH, message)
        created = call_twilio(
            twilio_client().messages.create,
            message.case_id,
            to=message.address,
            body=message.text,
            status_callback=callback,
            validity_period=validity_seconds(message, utcnow()),
            **sender_params(),
        )
        if isinstance(created, SendFailure):
            return SendResult(failure=created)
        log.info("sms.sent case=%s sid=%s", message.case_id, created.sid)
        segments = count_segments(message.text).segments
        return SendResult(provider_id=created.sid, cost_units=segments)
