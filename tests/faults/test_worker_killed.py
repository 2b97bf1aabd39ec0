"""A worker killed with SIGKILL mid-send: its messages come back (Dramatiq requeues a dead
worker's unacknowledged messages; a send cut off mid-call is settled by the stale-sending
rule), and nobody is texted twice."""

from __future__ import annotations

import time

import pytest

from tests.faults.checks import assert_nothing_lost_nothing_doubled
from tests.faults.stack import USERS, FaultStack, Recovery, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(600)]


def test_a_worker_killed_mid_send_loses_nothing(stack: FaultStack) -> None:
    # The database's safety nets keep their 10-minute defaults: only the scheduler's
    # dead-worker sweep (Dramatiq's heartbeat timeout, 60 s) can bring the killed worker's
    # messages back in time for this drill to settle.
    stack.start()
    campaign_id = stack.launch()
    wait_until(lambda: stack.sent_count() >= USERS // 5, 120, "sending under way")
    stack.kill(stack.workers[0])
    killed_at = time.monotonic()
    assert stack.sent_count() < USERS, "the kill must land mid-campaign"
    stack.start_worker()  # an orchestrator restarts it; its messages are still lost
    # A send cut off mid-call waits out the stale rule (90 s) and the step's wait (90 s)
    # before its case moves on to email: allow for both, and a loaded machine.
    recovery = Recovery.measure("worker SIGKILL", stack, campaign_id, killed_at, timeout=450)
    figures = assert_nothing_lost_nothing_doubled(stack, campaign_id, unconfirmed_allowed=16)
    recovery.report(**figures)
