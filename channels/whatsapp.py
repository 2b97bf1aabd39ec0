"""WhatsApp through Twilio's Messages API: the same endpoint, client and status callbacks
as SMS, with ``whatsapp:`` on both addresses.

A step's notice starts a conversation (business-initiated), which WhatsApp allows only with
an approved template: where ``RECALL_TWILIO_WHATSAPP_CONTENT_SID`` names one, the notice is
sent as that template (``ContentSid``) with the rendered notice as its variable ``1``;
where it does not, as a plain body, which is what Twilio's WhatsApp sandbox accepts. A
follow-up answers a user who just wrote, inside WhatsApp's 24-hour session, so it is always
a plain body. Replies come to the inbound SMS webhook (Twilio uses it for WhatsApp too) and
the port tells them apart by the ``whatsapp:`` sender.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.base import Channel, ChannelKind, ChannelSpec, Outbound, SendFailure, SendResult
from channels.callbacks import status_callback_url
from channels.clients import twilio_client
from channels.sms import STATUS_PATH, call_twilio, no_address, validity_seconds
from pipeline.clock import utcnow
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

PREFIX = "whatsapp:"


def whatsapp_address(number: str) -> str:
    """``+15551234567`` → ``whatsapp:+15551234567`` (an address already prefixed is kept)."""
    return number if number.startswith(PREFIX) else PREFIX + number


def sender() -> str:
    configured = get_settings().twilio_whatsapp_from
    if not configured:
        raise ValueError("set RECALL_TWILIO_WHATSAPP_FROM")
    return whatsapp_address(configured)


class WhatsAppChannel(Channel):
    spec = ChannelSpec(
        ChannelKind.WHATSAPP,
        "phone",
        takes_replies=True,
        cost_unit="message",
        order=4,
        address_prefix=PREFIX,
        # One number, one person: STOP on WhatsApp holds for texts to that number too.
        opt_out_flag="sms_opted_out",
        cap_setting="max_whatsapp_per_day",
        rate_setting="whatsapp_messages_per_second",
        template=ChannelKind.SMS,  # the notice reads like a text message
    )

    def send(self, message: Outbound) -> SendResult:
        content_sid = get_settings().twilio_whatsapp_content_sid
        if not content_sid or not message.notice:
            return self._create(message, body=message.text)
        variables = json.dumps({"1": message.text}, ensure_ascii=False)
        return self._create(message, content_sid=content_sid, content_variables=variables)

    def send_text(self, message: Outbound) -> SendResult:
        return self._create(message, body=message.text)

    def _create(self, message: Outbound, **content: Any) -> SendResult:
        if not message.address:
            return no_address("phone number on file")
        created = call_twilio(
            twilio_client().messages.create,
            message.case_id,
            to=whatsapp_address(message.address),
            from_=sender(),
            status_callback=status_callback_url(STATUS_PATH, message),
            validity_period=validity_seconds(message, utcnow()),
            **content,
        )
        if isinstance(created, SendFailure):
            return SendResult(failure=created)
        log.info("whatsapp.sent case=%s sid=%s", message.case_id, created.sid)
        return SendResult(provider_id=created.sid, cost_units=1.0)
