"""Redis wiped and PostgreSQL restarted mid-campaign: the scheduler notices the broker's
loss and hands back at once everything the database says is in flight; webhooks that
arrive while PostgreSQL is down wait in Redis and are stored once it is back. Nothing
retries a 200, so an answer lost here would be lost for good."""

from __future__ import annotations

import time

import pytest

from tests.faults.checks import assert_nothing_lost_nothing_doubled
from tests.faults.stack import USERS, FaultStack, Recovery, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(600)]


def test_redis_wiped_mid_campaign_is_repaired_at_once(stack: FaultStack) -> None:
    stack.start()
    campaign_id = stack.launch()
    wait_until(lambda: stack.sent_count() >= USERS // 5, 120, "sending under way")
    stack.redis.restart()  # no persistence: every message and key is gone
    wiped_at = time.monotonic()
    assert stack.sent_count() < USERS, "the wipe must land mid-campaign"
    recovery = Recovery.measure("Redis wiped", stack, campaign_id, wiped_at)
    figures = assert_nothing_lost_nothing_doubled(stack, campaign_id, unconfirmed_allowed=20)
    recovery.report(**figures)
    assert recovery.moving_again < 60, "moving again within a minute"


def test_postgres_restarted_mid_campaign_loses_no_answer(stack: FaultStack) -> None:
    stack.start()
    campaign_id = stack.launch()
    wait_until(lambda: stack.sent_count() >= USERS // 5, 120, "sending under way")
    completed = stack.case_states(campaign_id).get("completed", 0)
    stack.postgres.stop("fast")
    stopped_at = time.monotonic()
    time.sleep(5)  # answers keep arriving meanwhile: they must wait in the buffer
    buffered_during_outage = stack.buffered()
    stack.postgres.start()
    assert completed < USERS, "the restart must land mid-campaign"
    recovery = Recovery.measure("PostgreSQL restarted", stack, campaign_id, stopped_at)
    figures = assert_nothing_lost_nothing_doubled(stack, campaign_id, unconfirmed_allowed=20)
    recovery.report(buffered=buffered_during_outage, **figures)
    assert stack.buffered() == 0, "the buffer is drained"
