"""Benchmark: ``process_inbound_event`` throughput on PostgreSQL, by worker threads.

Stores N recipients with one awaiting case each, N inbound SMS answers (a mix of agree,
refuse, query, help) and N delivery callbacks, then processes them with 1 and with T
threads, each event in its own transaction as ``response.process`` does. Every answer
writes a hash-chained audit record, and writers of one audit chain take turns (an advisory
lock per chain, RECALL_AUDIT_CHAINS of them), so the ratio of T threads to 1 shows what is
left of that serialisation.

Baseline: the same callbacks processed with 1 thread; answers with 1 thread.

    .venv/bin/python bench/inbound.py [--events 500] [--threads 4] [--admin-url ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _support import drop_database, fresh_database

from pipeline.cases.policy import Step, freeze_policy
from pipeline.clock import utcnow
from pipeline.db import make_engine, session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.models import Attempt, Campaign, Case, InboundEvent, Recipient
from pipeline.privacy import audit

ANSWERS = ["YES", "不同意", "Is my unit affected?", "HELP"]


def seed(engine: object, n: int) -> tuple[list[int], list[int]]:
    """N cases; returns the ids of N SMS answers and N delivery callbacks."""
    from datetime import timedelta

    now = utcnow()
    with session_scope(engine) as s:  # type: ignore[arg-type]
        policy = freeze_policy([Step("sms", timedelta(hours=24))], {})
        deadline = now + timedelta(days=9)
        camp = Campaign(name="bench", reason="other", description="d", remedy="r",
                        policy=policy, deadline=deadline, state="running")  # fmt: skip
        s.add(camp)
        s.flush()
        s.execute(insert(Recipient), [
            {"external_id": f"b{i}", "name": f"N{i}", "phone": f"+1555{i:07d}"} for i in range(n)
        ])  # fmt: skip
        ids = s.scalars(select(Recipient.id).order_by(Recipient.id)).all()
        s.execute(insert(Case), [
            {"campaign_id": camp.id, "recipient_id": r, "state": "awaiting_response",
             "last_notified_at": now} for r in ids
        ])  # fmt: skip
        cases = s.scalars(select(Case.id).order_by(Case.id)).all()
        s.execute(insert(Attempt), [
            {"case_id": c, "channel": "sms", "step": 0, "status": "sent", "provider_id": f"SMb{c}"}
            for c in cases
        ])  # fmt: skip
        s.execute(insert(InboundEvent), [
            {"provider": "twilio", "kind": "sms", "provider_event_id": f"in{i}",
             "payload": {"From": f"+1555{i:07d}", "Body": ANSWERS[i % 4], "MessageSid": f"in{i}"}}
            for i in range(n)
        ] + [
            {"provider": "twilio", "kind": "sms_status", "provider_event_id": f"st{c}",
             "payload": {"MessageSid": f"SMb{c}", "MessageStatus": "delivered"}}
            for c in cases
        ])  # fmt: skip
        sms = s.scalars(select(InboundEvent.id).where(InboundEvent.kind == "sms")).all()
        status = s.scalars(select(InboundEvent.id).where(InboundEvent.kind == "sms_status")).all()
    return list(sms), list(status)


def run(engine: object, ids: list[int], threads: int) -> float:
    """Events per second, each in its own transaction."""
    queue = list(ids)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                event_id = queue.pop()
            with session_scope(engine) as session:
                process_inbound_event(session, event_id)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return len(ids) / (time.perf_counter() - start)


def measure(admin_url: str, n: int, threads: int, pick: Callable[..., list[int]]) -> float:
    name = f"recall_bench_inbound_{os.getpid()}"
    engine = make_engine(fresh_database(admin_url, name))
    ids = pick(*seed(engine, n))
    rate = run(engine, ids, threads)
    with session_scope(engine) as session:
        assert audit.verify(session).ok
    engine.dispose()
    drop_database(admin_url, name)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    for label, pick in (("answers", lambda sms, _: sms), ("statuses", lambda _, st: st)):
        one = measure(args.admin_url, args.events, 1, pick)
        many = measure(args.admin_url, args.events, args.threads, pick)
        print(
            f"{label:9} 1 thread: {one:7.0f}/s   {args.threads} threads: {many:7.0f}/s"
            f"   ratio {many / one:.2f}x"
        )


if __name__ == "__main__":
    main()
