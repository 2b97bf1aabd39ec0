"""The web process killed while webhooks arrive (the sandbox retries only as each URL's
connection overrides ask, like Twilio); a provider failing 30 % of calls, slowly; status
callbacks duplicated and out of order; SendGrid batches with a bad event among good ones."""

from __future__ import annotations

import time

import pytest

from tests.faults.checks import assert_nothing_lost_nothing_doubled
from tests.faults.stack import USERS, FaultStack, Recovery, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(600)]


def all_delivered(stack: FaultStack, campaign_id: int) -> None:
    """Every attempt ends delivered. An answer may be handled before the "delivered"
    callback that preceded it (two workers), so the last few are waited for."""
    wait_until(
        lambda: stack.attempt_statuses(campaign_id) == {"delivered": USERS},
        60,
        f"every attempt delivered: {dict(stack.attempt_statuses(campaign_id))}",
    )


def test_the_web_killed_while_webhooks_arrive_loses_none(stack: FaultStack) -> None:
    # Retries 1, 2, 4, 8, 8 s apart, so a restart slowed by a loaded machine still falls
    # inside them. Production: two web processes, or the fallback URL (README).
    stack.start(sandbox={"callback_retry_seconds": 1.0})
    campaign_id = stack.launch()
    wait_until(lambda: len(stack.user_answers()) >= USERS // 5, 120, "answers coming in")
    completed = stack.case_states(campaign_id).get("completed", 0)
    stack.kill(stack.web)
    killed_at = time.monotonic()
    stack.start_web()  # what a supervisor does; the providers retry meanwhile
    assert completed < USERS, "the kill must land mid-campaign"
    recovery = Recovery.measure("web SIGKILL", stack, campaign_id, killed_at)
    figures = assert_nothing_lost_nothing_doubled(stack, campaign_id)
    recovery.report(**figures)


def test_a_flaky_slow_provider_costs_time_not_messages(stack: FaultStack) -> None:
    faults = {"rate_5xx": 0.3, "slow_rate": 0.3, "slow_seconds": 2.0}
    stack.start(sandbox={"faults": faults})
    campaign_id = stack.launch()
    started = time.monotonic()
    recovery = Recovery.measure("30% 5xx, 2 s latencies", stack, campaign_id, started)
    figures = assert_nothing_lost_nothing_doubled(stack, campaign_id)
    recovery.report(**figures)
    all_delivered(stack, campaign_id)


def test_duplicated_out_of_order_status_callbacks_settle_every_attempt(
    stack: FaultStack,
) -> None:
    faults = {"duplicate_callbacks": 0.5, "shuffle_callbacks": True}
    stack.start(sandbox={"faults": faults})
    campaign_id = stack.launch()
    recovery = Recovery.measure("callbacks doubled, shuffled", stack, campaign_id, time.monotonic())
    figures = assert_nothing_lost_nothing_doubled(stack, campaign_id)
    recovery.report(**figures)
    # "delivered" wins whatever order "queued" and "sent" came in, and however often.
    all_delivered(stack, campaign_id)


def test_a_bad_sendgrid_event_costs_none_of_the_good_ones(stack: FaultStack) -> None:
    stack.start(sandbox={"faults": {"bad_sendgrid_events": True}})
    campaign_id = stack.launch(email_first=True)
    recovery = Recovery.measure("bad SendGrid events", stack, campaign_id, time.monotonic())
    figures = assert_nothing_lost_nothing_doubled(stack, campaign_id)
    bad = stack.stored_event_ids(prefix="sgc:")
    recovery.report(bad_events_stored=len(bad), **figures)
    all_delivered(stack, campaign_id)
    assert len(bad) >= USERS, "each batch's bad event is stored too (once: ids are stable)"
