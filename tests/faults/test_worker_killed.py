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
    # The database's own safety net, shortened from its 10-minute defaults: a killed
    # worker's messages come back through Dramatiq's maintenance only when it happens to
    # run on their queue (the scheduler's dead-worker sweep did not fire in these runs, see
    # docs/RELIABILITY.md), so the requeue window is what bounds recovery here.
    stack.start(RECALL_REQUEUE_AFTER_SECONDS="120", RECALL_ATTEMPT_LEASE_SECONDS="120")
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
