"""Complaints on the real stack: `recall web`, `recall worker` and `recall scheduler` on
PostgreSQL and Redis, the provider sandbox's users texting complaints in English and
Chinese. Every complaint is routed, acknowledged with its expected answer date, and the
status and complaint figures are exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from channels.sandbox.config import SandboxConfig, Shares
from channels.sandbox.runner import SandboxThread
from pipeline.campaigns.file import load_campaign_file
from pipeline.campaigns.launch import launch_campaign
from pipeline.models import Complaint, FollowUpSend
from tests.processes import stop
from tests.schedules.test_escalation_e2e import _recall, _wait_until_up
from tests.web.support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

CAMPAIGN = """\
name: Heater recall
reason: product_quality
description: The heater's thermostat can stick.
remedy: Stop using it; reply YES for a free repair.
deadline: 30d
escalation:
  - {channel: sms, wait: 1h}
quiet_hours: null
"""
LOCALES = ["en", "en", "en", "zh-CN", "zh-CN"]


@pytest.fixture
def running(
    pg_engine: Engine, pg_database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[dict[str, str], SandboxThread]]:
    web_port = free_port()
    public_url = f"http://127.0.0.1:{web_port}"
    config = SandboxConfig(
        public_url=public_url,
        users=True,
        shares=Shares(agree=0, refuse=0, query=0, stop=0, silence=0, complain=1),
        callback_delay=(0.1, 0.3),
        reply_delay=(0.2, 0.5),
        seed=15,
    )
    with ExitStack() as stack:
        sandbox = stack.enter_context(SandboxThread(config))
        env = {
            **os.environ,
            "RECALL_DATABASE_URL": pg_database_url,
            "RECALL_BROKER_URL": redis_url,
            "RECALL_BROKER_NAMESPACE": f"c15{os.getpid()}",
            "RECALL_PUBLIC_URL": public_url,
            "RECALL_TWILIO_API_BASE": sandbox.url,
            "RECALL_SENDGRID_API_BASE": sandbox.url,
            "RECALL_SENDGRID_WEBHOOK_PUBLIC_KEY": sandbox.public_key,
            "RECALL_DUE_SCAN_INTERVAL": "0.5",
            "RECALL_SMS_SENDER_TYPE": "short_code",
            "RECALL_SCHEDULER_LOCK_TTL": "3",
            "RECALL_HOLIDAYS": "2026-12-25",
        }
        processes = [
            _recall(env, "web", "--port", str(web_port), log=tmp_path / "web.log"),
            _recall(env, "worker", "--processes", "1", "--threads", "4", log=tmp_path / "w.log"),
            _recall(env, "scheduler", log=tmp_path / "scheduler.log"),
        ]
        for process in processes:
            stack.callback(stop, process)
        _wait_until_up(f"{public_url}/healthz", processes)
        yield env, sandbox


def _users(tmp_path: Path) -> Path:
    path = tmp_path / "users.csv"
    zones = {"en": "UTC", "zh-CN": "Asia/Shanghai"}
    rows = [
        f"C-{n},User {n},+1202555{n:04d},,{locale},{zones[locale]},2"
        for n, locale in enumerate(LOCALES)
    ]
    path.write_text("external_id,name,phone,email,locale,timezone,risk_tier\n" + "\n".join(rows))
    return path


def _cli(env: dict[str, str], *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *args, "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_sandbox_users_complain_and_the_figures_are_exact(
    running: tuple[dict[str, str], SandboxThread], pg_engine: Engine, tmp_path: Path
) -> None:
    env, sandbox = running
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN)
    campaign_id = launch_campaign(
        pg_engine, load_campaign_file(tmp_path / "campaign.yaml"), _users(tmp_path)
    )
    deadline = time.monotonic() + 120
    with Session(pg_engine) as session:
        while time.monotonic() < deadline:
            acks = session.scalars(
                select(FollowUpSend).where(FollowUpSend.kind == "complaint_ack")
            ).all()
            if len(acks) == len(LOCALES) and all(a.status == "sent" for a in acks):
                break
            session.expire_all()
            time.sleep(0.5)
        assert sorted(a.status for a in acks) == ["sent"] * len(LOCALES)
        complaints = session.scalars(select(Complaint)).all()
        assert sorted((c.type, c.language, c.stage) for c in complaints) == [
            ("general", "en", "routed")] * 3 + [("legal", "zh-CN", "routed")] * 2  # fmt: skip
        assert {c.campaign_id for c in complaints} == {campaign_id}

    # The acknowledgement states the expected answer: 3 working days' investigation plus
    # 1 for approval, in each person's language.
    outbound = [str(m.get("body")) for m in sandbox.state.messages]
    assert sum("You can expect an answer by" in body for body in outbound) == 3
    assert sum("前收到答复" in body for body in outbound) == 2

    status = _cli(env, "status", str(campaign_id))
    assert status["states"]["query_open"] == len(LOCALES)  # type: ignore[index]
    assert status["responses"]["query"] == len(LOCALES)  # type: ignore[index]
    figures = status["complaints"]
    assert figures["total"] == 5 and figures["open"] == 5  # type: ignore[index]
    assert figures["by_type"] == {"legal": 2, "regulator": 0, "general": 3, "agent": 0}  # type: ignore[index]
    assert figures["by_channel"] == {"sms": 5}  # type: ignore[index]
    assert figures["by_outcome"]["open"] == 5  # type: ignore[index]
    assert figures["deadlines"]["routing"] == {"due": 5, "met": 5, "share": 1.0}  # type: ignore[index]
    assert _cli(env, "complaints") == figures
