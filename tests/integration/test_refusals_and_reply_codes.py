"""Refusals understood and reply codes, end to end: real web, worker and scheduler processes
on Redis and PostgreSQL, and sandbox users who follow a script — they refuse and say why
(by number and in words, in English and Chinese), change their mind, and hold cases in two
campaigns (answering with a code, or bare and then naming the recall)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import SandboxThread
from pipeline.clock import utcnow
from pipeline.followups.demands import open_demands
from pipeline.models import Case, InboundEvent, PendingReply
from tests.processes import stop
from tests.web.support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

CAMPAIGN = """\
name: {name}
reason: product_quality
description: The {thing} can overheat.
remedy: Stop using it; reply YES for a free repair.
deadline: 2d
escalation:
  - {{channel: sms, wait: 1h}}
quiet_hours: null
"""
# Phone → what that user replies to each message that asks for an answer ("" = silent).
SCRIPTS = {
    "+12025550100": ["NO", "5"],  # a demand: compensation
    "+12025550101": ["不同意", "太麻烦了"],  # inconvenient, in Chinese
    "+12025550102": ["NO", "just because"],  # other, their words kept
    "+12025550103": ["NO", "1", "YES"],  # not affected, then agrees after all
    "+12025550104": ["NO", ""],  # refuses, gives no reason
    "+12025550105": ["YES"],
    "+12025550106": ["", "YES {code}"],  # two campaigns: answers the heater with its code
    "+12025550107": ["", "NO", "{code:Kettle recall}"],  # bare NO, asked, names the kettle
}
KETTLE_USERS = sorted(SCRIPTS)
HEATER_USERS = ["+12025550106", "+12025550107"]


def _users(path: Path, phones: list[str]) -> Path:
    rows = [
        f"E-{p[-3:]},User {p[-3:]},{p},,{'zh-CN' if p.endswith('101') else 'en'},UTC,2"
        for p in phones
    ]
    path.write_text("external_id,name,phone,email,locale,timezone,risk_tier\n" + "\n".join(rows))
    return path


def _recall(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args], env=env, stdout=handle, stderr=handle
    )


def _run(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _wait(
    condition: Callable[[], bool],
    what: str,
    timeout: float = 90,
    seen: Callable[[], object] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {seen()}")


def _outcomes(engine: Engine) -> list[tuple[str | None, str | None]]:
    with Session(engine) as session:
        rows = session.execute(select(InboundEvent.kind, InboundEvent.outcome))
        return [(kind, outcome) for kind, outcome in rows if kind == "sms"]


@pytest.fixture
def env(pg_database_url: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    web_port = free_port()
    public_url = f"http://127.0.0.1:{web_port}"
    config = SandboxConfig(
        public_url=public_url,
        callback_delay=(0.05, 0.2),
        reply_delay=(0.1, 0.3),
        max_replies=6,
        scripts=SCRIPTS,
    )
    with ExitStack() as stack:
        sandbox = stack.enter_context(SandboxThread(config))
        env = {
            **os.environ,
            "RECALL_DATABASE_URL": pg_database_url,
            "RECALL_BROKER_URL": redis_url,
            "RECALL_BROKER_NAMESPACE": f"refusals{os.getpid()}",
            "RECALL_PUBLIC_URL": public_url,
            "RECALL_TWILIO_API_BASE": sandbox.url,
            "RECALL_SENDGRID_API_BASE": sandbox.url,
            "RECALL_SENDGRID_WEBHOOK_PUBLIC_KEY": sandbox.public_key,
            "RECALL_DUE_SCAN_INTERVAL": "0.5",
            "RECALL_SMS_SENDER_TYPE": "short_code",
            "RECALL_SCHEDULER_LOCK_TTL": "3",
        }
        processes = [
            _recall(env, "web", "--port", str(web_port), log=tmp_path / "web.log"),
            _recall(env, "worker", "--processes", "1", "--threads", "4", log=tmp_path / "w.log"),
            _recall(env, "scheduler", log=tmp_path / "scheduler.log"),
        ]
        for process in processes:
            stack.callback(stop, process)

        def up() -> bool:
            assert all(p.poll() is None for p in processes), "a recall process exited early"
            try:
                return httpx.get(f"{public_url}/healthz", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        _wait(up, "the web app")
        yield env


def _launch(env: dict[str, str], tmp_path: Path, name: str, thing: str, phones: list[str]) -> int:
    spec = tmp_path / f"{thing}.yaml"
    spec.write_text(CAMPAIGN.format(name=name, thing=thing))
    users = _users(tmp_path / f"{thing}.csv", phones)
    return int(_run(env, "launch", str(spec), "--users", str(users), "--json")["campaign_id"])


def _states(engine: Engine, campaign_id: int) -> dict[str, str]:
    with Session(engine) as session:
        cases = session.scalars(select(Case).where(Case.campaign_id == campaign_id))
        return {case.recipient.phone or "": case.state for case in cases}


def test_refusals_with_reasons_and_two_campaign_replies(
    env: dict[str, str], pg_engine: Engine, tmp_path: Path
) -> None:
    kettle = _launch(env, tmp_path, "Kettle recall", "kettle", KETTLE_USERS)
    kettle_settled = {
        **dict.fromkeys(KETTLE_USERS[:5], "refused"),
        "+12025550103": "completed",
        "+12025550105": "completed",
        "+12025550106": "awaiting_response",
        "+12025550107": "awaiting_response",
    }

    def reasons_given() -> bool:
        with Session(pg_engine) as session:
            given = session.scalars(select(Case.refusal_reason).where(Case.campaign_id == kettle))
            return sum(1 for reason in given if reason) == 4

    _wait(lambda: _states(pg_engine, kettle) == kettle_settled and reasons_given(), "kettle")
    heater = _launch(env, tmp_path, "Heater recall", "heater", HEATER_USERS)

    def held_and_applied() -> bool:
        with Session(pg_engine) as session:
            held = list(session.scalars(select(PendingReply)))
        return len(held) == 1 and held[0].resolved_at is not None

    heater_settled = {"+12025550106": "completed", "+12025550107": "awaiting_response"}
    _wait(
        lambda: (
            _states(pg_engine, heater) == heater_settled
            and _states(pg_engine, kettle)["+12025550107"] == "refused"
            and held_and_applied()
        ),
        "heater",
        seen=lambda: (_states(pg_engine, heater), _states(pg_engine, kettle), _outcomes(pg_engine)),
    )
    status = _run(env, "status", str(kettle), "--json")
    assert status["refusals"] == {
        "not_affected": 1,
        "inconvenient": 1,
        "distrust": 0,
        "want_other_remedy": 0,
        "want_compensation": 1,
        "other": 1,
        "not_given": 2,  # +…104 said nothing more; +…107's NO came through the code
    }
    assert status["states"]["refused"] == 5 and status["states"]["completed"] == 2
    assert status["responses"]["refuse"] == 5 and status["responses"]["agree"] == 2
    heater_status = _run(env, "status", str(heater), "--json")
    assert heater_status["responses"]["agree"] == 1 and heater_status["responses"]["refuse"] == 0
    assert heater_status["refusals"]["not_given"] == 0
    with Session(pg_engine) as session:
        [demand] = open_demands(session, utcnow())
        assert demand.reason == "want_compensation" and demand.campaign_id == kettle
        words = session.scalars(
            select(Case.refusal_text).where(Case.refusal_reason == "other")
        ).one()
        assert words == "just because"
