"""A follow-up's status callbacks come to a marked URL (``?followup=1``), a notice's to the
plain one: the web stores a follow-up's statuses as handled, so no worker spends a
transaction on news that changes no case."""

from __future__ import annotations

from collections.abc import Callable

from channels.callbacks import CONNECTION_OVERRIDES
from channels.registry import channel_for
from channels.sandbox.runner import SandboxThread
from pipeline.models import Case
from pipeline.notices.outbound import followup_message, notice_message
from tests.channels.channels_testkit import Receiver, sandbox_requests

MakeCase = Callable[..., Case]


def test_a_followups_status_callback_is_marked_and_a_notices_is_not(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    case = make_case(phone="+15551230001")
    assert channel_for("sms").send(notice_message(case, "sms", 0)).ok
    assert channel_for("sms").send(followup_message(case, "sms", "Thank you.")).ok

    notice, followup = sandbox_requests(sandbox, "twilio")
    status = f"{receiver.url}/webhooks/twilio/status"
    assert notice["form"]["StatusCallback"] == status + CONNECTION_OVERRIDES
    assert followup["form"]["StatusCallback"] == status + "?followup=1" + CONNECTION_OVERRIDES


def test_the_sandbox_posts_a_followups_statuses_to_the_marked_url(
    sandbox: SandboxThread, receiver: Receiver, make_case: MakeCase
) -> None:
    sandbox.configure(users=False)
    case = make_case(phone="+15551230002")
    assert channel_for("sms").send(followup_message(case, "sms", "Thank you.")).ok
    sandbox.wait_idle()

    callbacks = receiver.at("/webhooks/twilio/status")
    assert callbacks and {r.path for r in callbacks} == {"/webhooks/twilio/status?followup=1"}
