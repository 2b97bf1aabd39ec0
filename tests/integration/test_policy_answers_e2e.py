"""Issue 15's slices together on the real stack: `recall web`, `recall worker` and `recall
scheduler` on PostgreSQL and Redis, and scripted sandbox users who, in one run, refuse and say
why (by number and in words, in English and Chinese), complain (en and zh-CN), hold cases in
two campaigns (a bare YES is held, they are asked which recall, they answer with its code),
have their remedy confirmed by `recall remedies import`, and score the satisfaction question
that follows. Both campaigns' `recall status --json` figures are exact."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import SandboxThread
from pipeline.clock import utcnow
from pipeline.followups.demands import open_demands
from pipeline.models import Complaint, FollowUpSend, PendingReply, SatisfactionAnswer
from tests.integration.test_refusals_and_reply_codes import _outcomes, _recall, _run, _states, _wait
from tests.processes import stop
from tests.schedules.test_escalation_e2e import _wait_until_up
from tests.web.support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

KETTLE = """\
name: Kettle recall
reason: product_quality
description: Batch 7 kettles can overheat.
remedy: Bring the kettle to a service centre for a free replacement.
deadline: 28d
completion: on_remedy
satisfaction: true
escalation:
  - {channel: sms, wait: 1h}
quiet_hours: null
"""
HEATER = """\
name: Heater recall
reason: product_quality
description: The heater's thermostat can stick.
remedy: Stop using it; reply YES for a free repair.
deadline: 28d
escalation:
  - {channel: sms, wait: 1h}
quiet_hours: null
"""
# Phone → locale and what that user replies to each message that asks for an answer ("" =
# silent; the refusal's "thank you" also asks, hence the "" before a later score).
SCRIPTS = {
    "+12025550100": ("en", ["NO", "5"]),  # demand: compensation
    "+12025550101": ("zh-CN", ["不同意", "太麻烦了"]),  # inconvenient, in Chinese
    "+12025550102": ("en", ["NO", "just because", "", "1"]),  # other; remedied anyway; scores 1
    "+12025550103": ("en", ["YES", "4"]),  # agrees, remedied, scores 4
    "+12025550104": ("en", ["YES"]),  # agrees, remedy not confirmed yet
    "+12025550105": ("en", ["I want to make a complaint: nobody at the centre answers."]),
    "+12025550106": ("zh-CN", ["我要投诉，已经联系了律师。"]),  # a legal complaint
    "+12025550107": ("en", ["NO", ""]),  # refuses, gives no reason
    "+12025550108": ("en", ["", "YES {code}"]),  # two campaigns: the heater, by its code
    # Two campaigns: a bare YES, asked which, names the kettle; remedied, then scores 2 while
    # the heater case is still open (a score, not an answer to the heater).
    "+12025550109": ("en", ["", "YES", "{code:Kettle recall}", "2"]),
    "+12025550110": ("zh-CN", ["同意", "5分"]),  # agrees in Chinese, remedied, scores 5
}
KETTLE_USERS = sorted(SCRIPTS)
HEATER_USERS = ["+12025550108", "+12025550109"]
REMEDIED = ["+12025550102", "+12025550103", "+12025550109", "+12025550110"]


@pytest.fixture
def env(pg_database_url: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    web_port = free_port()
    public_url = f"http://127.0.0.1:{web_port}"
    defaults = SandboxConfig().answer_prompts
    config = SandboxConfig(
        public_url=public_url,
        callback_delay=(0.05, 0.2),
        reply_delay=(0.1, 0.3),
        max_replies=6,
        # The satisfaction question asks for a number, not a YES: scripted users answer it.
        answer_prompts=[*defaults, "number from 1", "回复1到5"],
        scripts={phone: lines for phone, (_, lines) in SCRIPTS.items()},
    )
    with ExitStack() as stack:
        sandbox = stack.enter_context(SandboxThread(config))
        env = {
            **os.environ,
            "RECALL_DATABASE_URL": pg_database_url,
            "RECALL_BROKER_URL": redis_url,
            "RECALL_BROKER_NAMESPACE": f"policy{os.getpid()}",
            "RECALL_PUBLIC_URL": public_url,
            "RECALL_TWILIO_API_BASE": sandbox.url,
            "RECALL_SENDGRID_API_BASE": sandbox.url,
            "RECALL_SENDGRID_WEBHOOK_PUBLIC_KEY": sandbox.public_key,
            "RECALL_DUE_SCAN_INTERVAL": "0.5",
            "RECALL_CHECK_INTERVAL": "1",  # the satisfaction job's period
            "RECALL_SATISFACTION_DELAY_SECONDS": "0",
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
        _wait_until_up(f"{public_url}/healthz", processes)
        yield env


def _launch(env: dict[str, str], tmp_path: Path, name: str, spec: str, phones: list[str]) -> int:
    campaign = tmp_path / f"{name}.yaml"
    campaign.write_text(spec)
    users = tmp_path / f"{name}.csv"
    rows = [f"E-{p[-3:]},User {p[-3:]},{p},,{SCRIPTS[p][0]},UTC,2" for p in phones]
    users.write_text("external_id,name,phone,email,locale,timezone,risk_tier\n" + "\n".join(rows))
    return int(_run(env, "launch", str(campaign), "--users", str(users), "--json")["campaign_id"])


def _count(engine: Engine, query: object) -> int:
    with Session(engine) as session:
        return int(session.scalar(query) or 0)  # type: ignore[call-overload]


def test_refusals_complaints_two_campaigns_remedies_and_satisfaction_together(
    env: dict[str, str], pg_engine: Engine, tmp_path: Path
) -> None:
    kettle = _launch(env, tmp_path, "kettle", KETTLE, KETTLE_USERS)
    first = {
        **dict.fromkeys(["+12025550100", "+12025550101", "+12025550102"], "refused"),
        "+12025550107": "refused",
        **dict.fromkeys(["+12025550103", "+12025550104", "+12025550110"], "agreed"),
        **dict.fromkeys(["+12025550105", "+12025550106"], "query_open"),
        **dict.fromkeys(HEATER_USERS, "awaiting_response"),
    }
    reasons = select(func.count()).where(
        FollowUpSend.kind == "refusal_reason_ack", FollowUpSend.status == "sent"
    )
    acks = select(func.count()).where(
        FollowUpSend.kind == "complaint_ack", FollowUpSend.status == "sent"
    )
    _wait(
        lambda: (
            _states(pg_engine, kettle) == first
            and _count(pg_engine, reasons) == 3
            and _count(pg_engine, acks) == 2
        ),
        "the kettle's first answers",
        seen=lambda: (_states(pg_engine, kettle), _outcomes(pg_engine)),
    )

    heater = _launch(env, tmp_path, "heater", HEATER, HEATER_USERS)
    held = select(func.count()).where(PendingReply.resolved_at.is_not(None))
    _wait(
        lambda: (
            _states(pg_engine, heater)
            == {"+12025550108": "completed", "+12025550109": "awaiting_response"}
            and _states(pg_engine, kettle)["+12025550109"] == "agreed"
            and _count(pg_engine, held) == 1
        ),
        "the two-campaign replies",
        seen=lambda: (_states(pg_engine, heater), _states(pg_engine, kettle), _outcomes(pg_engine)),
    )

    # The service centre's export: three who agreed, and one who refused, were served.
    remedies = tmp_path / "remedies.csv"
    remedies.write_text(
        "external_id,completed_at,note\n" + "".join(f"E-{p[-3:]},2026-01-10,\n" for p in REMEDIED)
    )
    imported = _run(env, "remedies", "import", str(kettle), str(remedies), "--json")
    assert (imported["completed"], imported["completed_without_agreement"]) == (3, 1)

    scored = select(func.count()).where(SatisfactionAnswer.score.is_not(None))
    _wait(
        lambda: _count(pg_engine, scored) == len(REMEDIED),
        "four satisfaction scores",
        seen=lambda: (_states(pg_engine, heater), _outcomes(pg_engine)),
    )

    status = _run(env, "status", str(kettle), "--json")
    assert {k: v for k, v in status["states"].items() if v} == {
        "refused": 3, "completed": 4, "agreed": 1, "query_open": 2, "awaiting_response": 1,
    }  # fmt: skip
    assert {k: status["responses"][k] for k in ("agree", "refuse", "query")} == {
        "agree": 4, "refuse": 4, "query": 2,
    }  # fmt: skip
    assert status["refusals"] == {
        "not_affected": 0, "inconvenient": 1, "distrust": 0, "want_other_remedy": 0,
        "want_compensation": 1, "other": 1, "not_given": 1,
    }  # fmt: skip
    assert status["remedies"] == {
        "agreed": 4, "remedied": 4, "remedied_without_agreement": 1, "awaiting": 1,
        "rate": 0.75,
    }  # fmt: skip
    assert status["satisfaction"] == {
        "answers": 4, "mean": 3.0, "distribution": {"1": 1, "2": 1, "3": 0, "4": 1, "5": 1},
        "rate": 1.0, "asked": 4,
    }  # fmt: skip
    complaints = status["complaints"]
    assert (complaints["total"], complaints["open"]) == (2, 2)
    assert complaints["by_type"] == {"legal": 1, "regulator": 0, "general": 1, "agent": 0}
    assert complaints["by_channel"] == {"sms": 2}

    other = _run(env, "status", str(heater), "--json")
    assert {k: v for k, v in other["states"].items() if v} == {
        "completed": 1, "awaiting_response": 1,
    }  # fmt: skip
    assert {k: other["responses"][k] for k in ("agree", "refuse", "query")} == {
        "agree": 1, "refuse": 0, "query": 0,
    }  # fmt: skip
    assert sum(other["refusals"].values()) == 0
    assert (other["satisfaction"]["asked"], other["satisfaction"]["answers"]) == (0, 0)
    assert other["remedies"]["remedied"] == 0 and other["complaints"]["total"] == 0

    with Session(pg_engine) as session:
        [demand] = open_demands(session, utcnow())
        assert (demand.reason, demand.campaign_id) == ("want_compensation", kettle)
        assert {c.campaign_id for c in session.scalars(select(Complaint))} == {kettle}
