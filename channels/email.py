"""SendGrid email: HTML and plain-text notice, three signed answer links, one-click
unsubscribe. ``custom_args`` carries only the case id, which comes back on every event."""

from __future__ import annotations

import logging
from html import escape
from typing import TYPE_CHECKING

from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid.helpers.mail import CustomArg, Email, Header, Mail, To

from channels.base import Channel, ChannelError, ChannelKind, ChannelSpec, SendResult
from channels.clients import sendgrid_client
from channels.errors import NETWORK_ERRORS, classify_network_error, classify_sendgrid_error
from channels.sms import no_address
from pipeline.notices.templates import render_followup_subject, render_notice, response_links
from pipeline.settings import get_settings

if TYPE_CHECKING:
    from pipeline.models import Case

log = logging.getLogger(__name__)


def build_mail(case: Case, subject: str, text: str, html: str, unsubscribe_url: str) -> Mail:
    settings = get_settings()
    mail = Mail(
        from_email=Email(settings.sendgrid_from),
        to_emails=To(case.recipient.email or "", case.recipient.name or None),
        subject=subject,
        plain_text_content=text,
        html_content=html,
    )
    mail.custom_arg = CustomArg("case_id", str(case.id))
    # RFC 8058: mail clients show an unsubscribe button that POSTs to the link.
    mailto = f"mailto:{settings.sendgrid_from}?subject=unsubscribe"
    mail.header = Header("List-Unsubscribe", f"<{unsubscribe_url}>, <{mailto}>")
    mail.header = Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    return mail


def send_mail(case: Case, mail: Mail) -> SendResult:
    try:
        response = sendgrid_client().send(mail)
    except SendGridHTTPError as error:
        failure = classify_sendgrid_error(error)
    except NETWORK_ERRORS as error:
        failure = classify_network_error(error)
    else:
        message_id = response.headers.get("X-Message-Id")
        log.info("email.sent case=%s message_id=%s", case.id, message_id)
        return SendResult(provider_id=message_id, cost_units=1.0)
    log.warning("sendgrid.send_failed case=%s code=%s kind=%s", case.id, failure.code, failure.kind)
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
    )

    def send(self, case: Case, step: int) -> SendResult:
        if not case.recipient.email:
            return no_address("email address on file")
        notice = render_notice(case, "email")
        links = notice.links or {}
        mail = build_mail(
            case, notice.subject or "", notice.text, notice.html or "", links["unsubscribe_url"]
        )
        return send_mail(case, mail)

    def send_text(self, case: Case, body: str) -> SendResult:
        if not case.recipient.email:
            return no_address("email address on file")
        html = "".join(f"<p>{escape(line)}</p>" for line in body.splitlines() if line.strip())
        unsubscribe = response_links(case)["unsubscribe_url"]
        mail = build_mail(case, render_followup_subject(case), body, html, unsubscribe)
        return send_mail(case, mail)
