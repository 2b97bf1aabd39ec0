"""SendGrid email: HTML and plain-text notice, three signed answer links, one-click
unsubscribe. ``custom_args`` carries only the case id, which comes back on every event."""

from __future__ import annotations

import logging
from html import escape

from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid.helpers.mail import CustomArg, Email, Header, Mail, To

from channels.base import Channel, ChannelError, ChannelKind, ChannelSpec, Outbound, SendResult
from channels.clients import sendgrid_client
from channels.errors import NETWORK_ERRORS, classify_network_error, classify_sendgrid_error
from channels.sms import no_address
from pipeline.settings import get_settings

log = logging.getLogger(__name__)


def build_mail(message: Outbound, html: str) -> Mail:
    settings = get_settings()
    mail = Mail(
        from_email=Email(settings.sendgrid_from),
        to_emails=To(message.address or "", message.name),
        subject=message.subject or "",
        plain_text_content=message.text,
        html_content=html,
    )
    mail.custom_arg = CustomArg("case_id", str(message.case_id))
    # RFC 8058: mail clients show an unsubscribe button that POSTs to the link.
    mailto = f"mailto:{settings.sendgrid_from}?subject=unsubscribe"
    mail.header = Header("List-Unsubscribe", f"<{message.unsubscribe_url}>, <{mailto}>")
    mail.header = Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    return mail


def send_mail(case_id: int, mail: Mail) -> SendResult:
    try:
        response = sendgrid_client().send(mail)
    except SendGridHTTPError as error:
        failure = classify_sendgrid_error(error)
    except NETWORK_ERRORS as error:
        failure = classify_network_error(error)
    else:
        message_id = response.headers.get("X-Message-Id")
        log.info("email.sent case=%s message_id=%s", case_id, message_id)
        return SendResult(provider_id=message_id, cost_units=1.0)
    log.warning("sendgrid.send_failed case=%s code=%s kind=%s", case_id, failure.code, failure.kind)
    if failure.transient:
        raise ChannelError(failure)
    return SendResult(failure=failure)


class EmailChannel(Channel):
    spec = ChannelSpec(
        ChannelKind.EMAIL,
        "email",
        takes_replies=True,
        takes_links=True,
        cost_unit="email",
        quiet_hours=False,
        order=2,
        cap_setting="max_emails_per_day",
        subject_line=True,
    )

    def send(self, message: Outbound) -> SendResult:
        if not message.address:
            return no_address("email address on file")
        return send_mail(message.case_id, build_mail(message, message.html or ""))

    def send_text(self, message: Outbound) -> SendResult:
        if not message.address:
            return no_address("email address on file")
        lines = message.text.splitlines()
        html = "".join(f"<p>{escape(line)}</p>" for line in lines if line.strip())
        return send_mail(message.case_id, build_mail(message, html))
