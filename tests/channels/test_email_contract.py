"""The email adapter through the real sendgrid client, against the sandbox over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable

from sendgrid.helpers.eventwebhook import EventWebhook

from channels.registry import channel_for
from channels.sandbox.runner import SandboxThread
from pipeline.models import Case
from pipeline.notices.outbound import followup_message, notice_message
from pipeline.notices.templates import render_notice
from pipeline.privacy.tokens import read_response_token
from tests.channels.channels_testkit import Receiver, sandbox_requests

MakeCase = Callable[..., Case]


def test_mail_request_is_what_sendgrid_expects(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    case = make_case(email="grace@example.com", name="Grace", locale="zh-CN")
    result = channel_for("email").send(notice_message(case, "email", 2))

    (request,) = sandbox_requests(sandbox, "sendgrid")
    assert request["path"] == "/v3/mail/send" and request["status"] == 202
    mail = request["json"]
    notice = render_notice(case, "email")
    assert mail["personalizations"] == [{"to": [{"email": "grace@example.com", "name": "Grace"}]}]
    assert mail["from"] == {"email": "recall@example.com"}
    assert mail["subject"] == notice.subject
    assert mail["content"] == [
        {"type": "text/plain", "value": notice.text},
        {"type": "text/html", "value": notice.html},
    ]
    assert mail["custom_args"] == {"case_id": str(case.id)}
    assert notice.links is not None
    unsubscribe = mail["headers"]["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{notice.links['unsubscribe_url']}>")
    assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = mail["content"][1]["value"]
    for answer in ("agree", "refuse", "query"):
        url = notice.links[f"{answer}_url"]
        assert url.startswith(f"{receiver.url}/r/")
        assert f'href="{url}"' in html
        assert read_response_token(url.rsplit("/", 1)[1], case.campaign.deadline) == (
            case.id,
            answer,
        )
    # The provider id is SendGrid's X-Message-Id, and nothing personal rides along.
    sent = sandbox.state.messages[0]
    assert result.ok and result.provider_id == sent["sid"]
    assert "grace" not in json.dumps(mail["custom_args"])


def test_events_are_signed_like_sendgrid(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    sandbox.configure(open_rate=1.0)
    case = make_case(email="alan@example.com")
    result = channel_for("email").send(notice_message(case, "email", 2))
    sandbox.wait_idle()

    posts = receiver.at("/webhooks/sendgrid/events")
    events = [json.loads(p.body)[0] for p in posts]
    assert [e["event"] for e in events] == ["processed", "delivered", "open"]
    assert all(e["case_id"] == str(case.id) for e in events)
    assert all(e["sg_message_id"].startswith(f"{result.provider_id}.") for e in events)
    verifier = EventWebhook(sandbox.public_key)
    for post in posts:
        signature = post.headers["X-Twilio-Email-Event-Webhook-Signature"]
        timestamp = post.headers["X-Twilio-Email-Event-Webhook-Timestamp"]
        assert verifier.verify_signature(post.body.decode(), signature, timestamp)
        assert not verifier.verify_signature(post.body.decode() + " ", signature, timestamp)


def test_bad_mailbox_bounces(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    result = channel_for("email").send(
        notice_message(make_case(email="bounce-me@example.com"), "email", 2)
    )
    sandbox.wait_idle()
    assert result.ok
    events = [json.loads(p.body)[0] for p in receiver.at("/webhooks/sendgrid/events")]
    assert [e["event"] for e in events] == ["processed", "bounce"]
    assert events[1]["status"] == "5.1.1"


def test_user_clicks_the_link_for_their_answer(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    sandbox.configure(users=True, open_rate=1.0, shares={"query": 1, "agree": 0, "silence": 0})
    case = make_case(email="ken@example.com", locale="zh-CN")
    channel_for("email").send(notice_message(case, "email", 2))
    sandbox.wait_idle()

    link_requests = [r for r in receiver.received if r.path.startswith("/r/")]
    assert [r.method for r in link_requests] == ["GET", "POST"]
    token = link_requests[0].path.removeprefix("/r/")
    assert read_response_token(token, case.campaign.deadline) == (case.id, "query")
    assert link_requests[1].form["answer"] == "query"
    assert "去年" in link_requests[1].form["text"]
    events = [json.loads(p.body)[0]["event"] for p in receiver.at("/webhooks/sendgrid/events")]
    assert events[-1] == "click"


def test_user_unsubscribes_with_one_click(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    sandbox.configure(users=True, open_rate=1.0, shares={"stop": 1, "agree": 0, "silence": 0})
    case = make_case(email="lin@example.com")
    channel_for("email").send(notice_message(case, "email", 2))
    sandbox.wait_idle()
    (post,) = [r for r in receiver.received if r.path.startswith("/r/")]
    assert post.method == "POST" and post.body == b"List-Unsubscribe=One-Click"
    token = post.path.removeprefix("/r/")
    assert read_response_token(token, case.campaign.deadline) == (case.id, "opt_out")


def test_followup_email(sandbox: SandboxThread, make_case: MakeCase) -> None:
    case = make_case(email="ada@example.com")
    assert (
        channel_for("email")
        .send_text(followup_message(case, "email", "Thanks.\nYour refund is on its way."))
        .ok
    )
    (request,) = sandbox_requests(sandbox, "sendgrid")
    mail = request["json"]
    assert mail["subject"] == f"{case.campaign.name}: your answer"
    assert mail["content"][0]["value"] == "Thanks.\nYour refund is on its way."
    assert mail["content"][1]["value"] == "<p>Thanks.</p><p>Your refund is on its way.</p>"
    assert mail["custom_args"] == {"case_id": str(case.id)}


def test_the_users_inbox_shows_the_mail_and_its_fate(
    sandbox: SandboxThread, make_case: MakeCase
) -> None:
    import httpx

    channel_for("email").send(notice_message(make_case(email="bounce-x@example.com"), "email", 2))
    channel_for("email").send(notice_message(make_case(email="fine@example.com"), "email", 2))
    sandbox.wait_idle()
    inbox = httpx.get(f"{sandbox.url}/_sandbox/messages", params={"to": "fine@example.com"})
    (mail,) = inbox.json()
    assert mail["status"] == "delivered" and mail["subject"].startswith("Product recall")
    bounced = httpx.get(f"{sandbox.url}/_sandbox/messages", params={"to": "bounce-x@example.com"})
    assert bounced.json()[0]["status"] == "bounce"
