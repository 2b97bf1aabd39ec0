"""The pipeline with real parts: PostgreSQL, Redis, `recall worker` processes, the provider
sandbox over HTTP through the real Twilio client. Exactly one send per case per step, and
nothing lost when a worker is killed, Redis is wiped or the campaign is paused."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.reporting import tallies
from tests.integration.pipeline_stack import Stack
from tests.stack_queries import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]
# The failure tests need a campaign long enough to hit mid-way, not a large one.
CASES = 800


@pytest.fixture
def stack(
    pg_engine: Engine, pg_database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Stack]:
    running = Stack(pg_engine, pg_database_url, redis_url, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def settled(stack: Stack, campaign_id: int, cases: int) -> bool:
    return stack.case_states(campaign_id).get("awaiting_response", 0) == cases


def assert_one_send_per_step(stack: Stack, campaign_id: int, cases: int) -> None:
    keys = stack.attempts_per_step(campaign_id)
    assert len(keys) == cases, "every case has its step-0 attempt"
    assert set(keys.values()) == {1}, "never two attempts for one (case, step)"
    texts = stack.texts_per_recipient()
    twice = {to: n for to, n in texts.items() if n > 1}
    assert twice == {}, f"recipients texted twice: {twice}"
    statuses = stack.attempt_statuses(campaign_id)
    assert set(statuses) <= {"sent", "unconfirmed"}, statuses
    assert len(texts) >= statuses["sent"], "every recorded send reached the provider"
    with Session(stack.engine) as session:  # the triggers kept count under concurrent workers
        assert tallies.read(session, campaign_id) == tallies.recount(session, campaign_id)


def test_a_2000_user_campaign_sends_exactly_once_per_case(stack: Stack) -> None:
    # A low high-water mark makes the fan-out pause and resume from its cursor many times.
    stack.start(
        RECALL_FAN_OUT_CHUNK="200", RECALL_FAN_OUT_HIGH_WATER="400", RECALL_FAN_OUT_PAUSE_MS="200"
    )
    stack.start_worker()
    stack.start_worker()
    campaign_id = stack.launch(2000)
    wait_until(lambda: settled(stack, campaign_id, 2000), 240, "2,000 cases sent")
    assert_one_send_per_step(stack, campaign_id, 2000)
    assert stack.attempt_statuses(campaign_id) == {"sent": 2000}
    assert len(stack.sandbox_messages("sms")) == 2000


def test_a_worker_killed_mid_campaign_loses_no_case_and_texts_no_one_twice(stack: Stack) -> None:
    stack.start()
    doomed = stack.start_worker()
    stack.start_worker()
    stack.start_sweeper()
    campaign_id = stack.launch(CASES)
    wait_until(lambda: len(stack.sandbox_messages()) >= CASES // 5, 120, "sending under way")
    stack.kill(doomed, signal.SIGKILL)
    sent_at_kill = len(stack.sandbox_messages())
    assert sent_at_kill < CASES, "the kill must land mid-campaign"
    stack.start_worker()
    wait_until(lambda: settled(stack, campaign_id, CASES), 240, "every case handled")
    assert_one_send_per_step(stack, campaign_id, CASES)


def test_wiping_redis_mid_campaign_delays_but_loses_nothing(stack: Stack) -> None:
    stack.start()
    stack.start_worker()
    stack.start_worker()
    stack.start_sweeper()
    campaign_id = stack.launch(CASES)
    wait_until(lambda: len(stack.sandbox_messages()) >= CASES // 5, 120, "sending under way")
    redis.Redis.from_url(stack.redis_url).flushdb()
    wiped_at = len(stack.sandbox_messages())
    assert wiped_at < CASES, "the wipe must land mid-campaign"
    wait_until(lambda: settled(stack, campaign_id, CASES), 240, "every case handled")
    assert_one_send_per_step(stack, campaign_id, CASES)


def test_pause_stops_sends_and_resume_continues(stack: Stack) -> None:
    stack.start(RECALL_SMS_PER_SECOND="40")
    stack.start_worker()
    stack.start_worker()
    stack.start_sweeper()
    campaign_id = stack.launch(400)
    wait_until(lambda: len(stack.sandbox_messages()) >= 40, 60, "sending under way")
    stack.recall("pause", str(campaign_id))
    time.sleep(2)  # sends already past the campaign check finish
    paused_at = len(stack.sandbox_messages())
    time.sleep(4)
    assert len(stack.sandbox_messages()) == paused_at, "nothing is sent while paused"
    assert paused_at < 400
    stack.recall("resume", str(campaign_id))
    wait_until(lambda: settled(stack, campaign_id, 400), 120, "the rest sent after resume")
    assert_one_send_per_step(stack, campaign_id, 400)
    assert len(stack.sandbox_messages()) == 400
