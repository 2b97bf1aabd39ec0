"""A 3-step escalation end to end: real worker and scheduler processes on Redis and
PostgreSQL, the web app, and the provider sandbox with users who never answer.

Each step must go out once, in order, and only after the previous step's wait."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import SandboxThread
from pipeline.campaigns.file import load_campaign_file
from pipeline.campaigns.launch import launch_campaign
from pipeline.models import Attempt, Case
from tests.processes import stop
from tests.web.support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

WAIT = 3  # seconds between steps
USERS = 4
CAMPAIGN = f"""\
name: Heater recall
reason: product_quality
description: The heater's thermostat can stick.
remedy: Stop using it; reply YES for a free repair.
deadline: 1h
escalation:
  - {{channel: sms, wait: {WAIT}s}}
  - {{channel: email, wait: {WAIT}s}}
  - {{channel: voice, wait: {WAIT}s}}
quiet_hours: null
"""


def _phone(n: int) -> str:
    return f"+1201555{n:04d}"


def _email(n: int) -> str:
    return f"user{n}@example.com"


def _recall(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args], env=env, stdout=handle, stderr=handle
    )


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.csv"
    rows = [f"E-{n},User {n},{_phone(n)},{_email(n)},en,UTC,2" for n in range(USERS)]
    path.write_text("external_id,name,phone,email,locale,timezone,risk_tier\n" + "\n".join(rows))
    return path


@pytest.fixture
def running(
    pg_engine: Engine, pg_database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[SandboxThread]:
    web_port = free_port()
    public_url = f"http://127.0.0.1:{web_port}"
    config = SandboxConfig(public_url=public_url, users=False, callback_delay=(0.1, 0.3))
    with ExitStack() as stack:
        sandbox = stack.enter_context(SandboxThread(config))
        env = {
            **os.environ,
            "RECALL_DATABASE_URL": pg_database_url,
            "RECALL_BROKER_URL": redis_url,
            "RECALL_BROKER_NAMESPACE": f"e2e{os.getpid()}",
            "RECALL_PUBLIC_URL": public_url,
            "RECALL_TWILIO_API_BASE": sandbox.url,
            "RECALL_SENDGRID_API_BASE": sandbox.url,
            "RECALL_SENDGRID_WEBHOOK_PUBLIC_KEY": sandbox.public_key,
            "RECALL_DUE_SCAN_INTERVAL": "0.5",
            "RECALL_SMS_SENDER_TYPE": "short_code",  # the sandbox is no long code
            "RECALL_SCHEDULER_LOCK_TTL": "3",
        }
        processes = [
            _recall(env, "web", "--port", str(web_port), log=tmp_path / "web.log"),
            _recall(env, "worker", "--processes", "1", "--threads", "4", log=tmp_path / "w.log"),
            _recall(env, "scheduler", log=tmp_path / "scheduler.log"),
        ]
        for process in processes:
            stack.callback(stop, process)
        _wait_until_up(f"{public_url}/healthz", processes)
        yield sandbox


def _wait_until_up(url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), "a recall process exited early"
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def test_three_steps_once_each_in_order_after_each_wait(
    running: SandboxThread, pg_engine: Engine, users_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN)
    campaign_id = launch_campaign(
        pg_engine, load_campaign_file(tmp_path / "campaign.yaml"), users_file
    )
    # Nothing else enqueues: the scheduler's due scan finds the pending cases by itself.

    deadline = time.monotonic() + 90
    with Session(pg_engine) as session:
        while time.monotonic() < deadline:
            states = session.scalars(
                select(Case.state).where(Case.campaign_id == campaign_id)
            ).all()
            if all(state == "unreachable" for state in states):
                break
            session.expire_all()
            time.sleep(0.5)
        assert set(states) == {"unreachable"}, states
        attempts = session.scalars(
            select(Attempt).join(Case).where(Case.campaign_id == campaign_id).order_by(Attempt.id)
        ).all()

    by_case: dict[int, list[Attempt]] = {}
    for attempt in attempts:
        by_case.setdefault(attempt.case_id, []).append(attempt)
    assert len(by_case) == USERS
    for steps in by_case.values():
        steps.sort(key=lambda attempt: attempt.step)
        assert [(a.step, a.channel) for a in steps] == [(0, "sms"), (1, "email"), (2, "voice")]
        for earlier, later in pairwise(steps):
            assert earlier.sent_at is not None
            gap = later.claimed_at - earlier.sent_at
            assert gap >= timedelta(seconds=WAIT), f"step {later.step} came {gap} after the last"

    # The providers saw exactly one accepted request per step per user, in ladder order.
    seen: dict[str, list[str]] = {}
    for request in running.state.requests:
        if request["status"] in (201, 202):
            who, kind = _recipient_and_kind(request)
            seen.setdefault(who, []).append(kind)
    assert seen == {f"user{n}": ["sms", "email", "voice"] for n in range(USERS)}


def _recipient_and_kind(request: dict[str, Any]) -> tuple[str, str]:
    if request["provider"] == "sendgrid":
        address = request["json"]["personalizations"][0]["to"][0]["email"]
        return address.split("@")[0], "email"
    number = request["form"]["To"]
    kind = "sms" if request["path"].endswith("/Messages.json") else "voice"
    return f"user{int(number[-4:])}", kind
