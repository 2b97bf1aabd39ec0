"""Issue 15a on the real stack: PostgreSQL, Redis, a `recall worker` process, the provider
sandbox over HTTP. Sandbox users answer by SMS (stored as the web stores a signed webhook,
then handed to the workers), the service centre's file is imported with `recall remedies
import`, the satisfaction questions go out through the workers and are answered, and
`recall status --json` shows exact counts."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dramatiq
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from actors.batch import enqueue_messages
from pipeline.clock import utcnow
from pipeline.inbound.event_store import NewEvent, store_events
from pipeline.models import FollowUpSend, SatisfactionAnswer
from pipeline.satisfaction.ask import stage_due_questions
from tests.integration.pipeline_stack import Stack
from tests.stack_queries import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]
USERS = 10
CAMPAIGN = """\
name: "Kettle recall"
reason: product_quality
description: "Batch 7 kettles can overheat."
remedy: "Bring the kettle to a service centre for a free replacement."
deadline: 28d
completion: on_remedy
remedy_reminder: 7d
satisfaction: true
escalation:
  - {channel: sms, wait: 1h}
quiet_hours: null
"""


def phone(n: int) -> str:
    return f"+1202555{n:04d}"


@pytest.fixture
def stack(
    pg_engine: Engine, pg_database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Stack]:
    running = Stack(pg_engine, pg_database_url, redis_url, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def launch(stack: Stack) -> int:
    spec = stack.workdir / "campaign.yaml"
    spec.write_text(CAMPAIGN)
    people = stack.workdir / "users.csv"
    with people.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["external_id", "name", "phone", "locale"])
        for n in range(USERS):
            out.writerow([f"u{n}", f"User {n}", phone(n), "en"])
    return int(json.loads(stack.recall("launch", str(spec), "--users", str(people), "--json"))
               ["campaign_id"])  # fmt: skip


def reply(stack: Stack, replies: dict[int, str], tag: str) -> None:
    """What the web does with a signed inbound SMS: store it raw, hand it to the workers."""
    events = [
        NewEvent("twilio", "sms", f"SM{tag}{n:04d}",
                 {"From": phone(n), "To": "+15005550006", "Body": body,
                  "MessageSid": f"SM{tag}{n:04d}"})
        for n, body in replies.items()
    ]  # fmt: skip
    ids = store_events(stack.engine, events)
    message = [
        dramatiq.Message(queue_name="response", actor_name="response.process", args=(i,),
                         kwargs={}, options={})
        for i in ids.values()
    ]  # fmt: skip
    assert stack.broker is not None
    enqueue_messages(stack.broker, message)


def ask_satisfaction(stack: Stack) -> int:
    """The scheduler's satisfaction job: stage, commit, then enqueue on the stack's broker."""
    with Session(stack.engine) as session, session.begin():
        staged = stage_due_questions(session, utcnow(), 100, delay=timedelta(0))
    messages = [
        dramatiq.Message(queue_name="followup", actor_name="channel.send_followup",
                         args=(s.case_id, s.channel, s.kind, None, s.key), kwargs={}, options={})
        for s in staged
    ]  # fmt: skip
    assert stack.broker is not None
    return enqueue_messages(stack.broker, messages)


def count(stack: Stack, query: object) -> int:
    with Session(stack.engine) as session:
        return int(session.scalar(query) or 0)  # type: ignore[call-overload]


def test_agree_remedy_import_and_satisfaction_counted_exactly(stack: Stack) -> None:
    stack.start()
    stack.start_worker()
    stack.start_sweeper(every=0.5)
    campaign_id = launch(stack)
    wait_until(lambda: stack.case_states(campaign_id)["awaiting_response"] == USERS, 90,
               "every notice sent")  # fmt: skip

    # Six agree, one refuses, three stay silent.
    reply(stack, {**dict.fromkeys(range(6), "YES"), 6: "NO"}, "a")
    wait_until(
        lambda: stack.case_states(campaign_id) == {"agreed": 6, "refused": 1,
                                                   "awaiting_response": 3},
        60, "the answers applied",
    )  # fmt: skip

    # The service centre: four of those who agreed, and the one who refused, were served.
    remedies = stack.workdir / "remedies.csv"
    remedies.write_text(
        "external_id,completed_at,note\n"
        + "".join(f"u{n},2026-01-10,counter\n" for n in (0, 1, 2, 3, 6))
    )
    out = json.loads(stack.recall("remedies", "import", str(campaign_id), str(remedies),
                                  "--json"))  # fmt: skip
    assert (out["completed"], out["completed_without_agreement"]) == (4, 1)
    again = json.loads(stack.recall("remedies", "import", str(campaign_id), str(remedies),
                                    "--json"))  # fmt: skip
    assert again["already_confirmed"] == 5

    # The five completed cases are asked once (a second run asks no one), by SMS.
    assert ask_satisfaction(stack) == 5
    assert ask_satisfaction(stack) == 0
    sent = select(func.count()).where(
        FollowUpSend.kind == "satisfaction_question", FollowUpSend.status == "sent"
    )
    wait_until(lambda: count(stack, sent) == 5, 60, "five questions sent")
    questions = [m for m in stack.sandbox_messages("sms") if "number from 1" in m["body"]]
    assert sorted(m["to"] for m in questions) == sorted(phone(n) for n in (0, 1, 2, 3, 6))

    # Four answer; the refuser's "2" is a score, not a second refusal.
    reply(stack, {0: "5", 1: "4", 2: "4 分", 6: "2"}, "s")
    answered = select(func.count()).where(SatisfactionAnswer.score.is_not(None))
    wait_until(lambda: count(stack, answered) == 4, 60, "four scores stored")

    status = json.loads(stack.recall("status", str(campaign_id), "--json"))
    assert {k: v for k, v in status["states"].items() if v} == {
        "completed": 5, "agreed": 2, "awaiting_response": 3,
    }  # fmt: skip
    assert status["responses"]["agree"] == 6 and status["responses"]["refuse"] == 1
    assert status["remedies"] == {
        "agreed": 6, "remedied": 5, "remedied_without_agreement": 1, "awaiting": 2,
        "rate": round(4 / 6, 6),
    }  # fmt: skip
    assert status["satisfaction"] == {
        "answers": 4, "mean": 3.75, "distribution": {"1": 0, "2": 1, "3": 0, "4": 2, "5": 1},
        "rate": 0.8, "asked": 5,
    }  # fmt: skip
    assert status["rates"]["completion"] == 0.5
