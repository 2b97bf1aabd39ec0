"""Benchmark: each scheduler job's round at 10,000 and at 1,000,000 cases (issue 16).

Every periodic job must cost the same whatever the campaign's size: it reads only what is
due, through an index. This builds the cases with ``generate_series`` (not the ORM) on
PostgreSQL in two states and times one round of each job (median of a few, each in a
transaction that is rolled back, so every round sees the same rows):

- ``fan-out``: a campaign just launched and fanned out: every case due, 98 % of them
  already claimed (enqueued), 2 % not reached yet;
- ``waiting``: every case waiting for an answer tomorrow, 0.1 % due now, a few claims
  whose message was lost, a few open queries.

For every statement a round ran it also prints what PostgreSQL's EXPLAIN ANALYZE says:
the indexes used, whether ``recall_case`` was read by a sequential scan, and how many rows
were read and thrown away. The small size is the same-run baseline: the figures must be flat.

    .venv/bin/python bench/scheduler.py [--sizes 10000 1000000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from _support import drop_database, fresh_database
from sqlalchemy import Engine, event, or_, select, text
from sqlalchemy.orm import Session

from pipeline.campaigns import deadlines, waves
from pipeline.cases import sweep
from pipeline.clock import utcnow
from pipeline.db import make_engine
from pipeline.followups import outbox
from pipeline.models import Campaign, Case
from pipeline.reporting import snapshots, tallies
from pipeline.settings import get_settings

NOW = utcnow()
STATES = ("fan-out", "waiting")


def build(engine: Engine, cases: int, state: str) -> None:
    """``cases`` recipients and cases of one running campaign, in ``state``; plus a few
    webhooks and follow-ups so the outbox jobs have something to look past."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE campaign, recipient, inbound_event RESTART IDENTITY CASCADE"))
        conn.execute(
            text(
                "INSERT INTO campaign (name, reason, description, remedy, help_text, spec, policy,"
                " completion, deadline, state, fan_out_cursor, created_at, launched_at)"
                " VALUES ('bench', 'safety', 'd', 'r', '', '{}', '{}', 'on_agree',"
                " :deadline, 'running', 0, :now, :now)"
            ),
            {"now": NOW, "deadline": NOW + timedelta(days=30)},
        )
        conn.execute(
            text(
                "INSERT INTO recipient (external_id, name, phone, email, locale, timezone,"
                " risk_tier, sms_opted_out, email_opted_out, voice_opted_out, created_at,"
                " updated_at) SELECT 'B' || g, 'User ' || g, '+1212' || (2000000 + g), NULL,"
                " 'en', 'UTC', 2, false, false, false, :now, :now"
                " FROM generate_series(1, :n) g"
            ),
            {"n": cases, "now": NOW},
        )
        conn.execute(text(_CASES[state]), {"now": NOW, "n": cases})
        for extra in _EXTRAS.split(";"):
            if extra.strip():
                conn.execute(text(extra), {"now": NOW})
        tallies.compact(Session(bind=conn))  # the launch's deltas, folded as the job would
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


_CASES = {
    # Launched 30 s ago; the fan-out (in case order) claimed the first 98 % 20 s ago, the
    # last 2 % are not reached yet.
    "fan-out": """
        INSERT INTO recall_case (campaign_id, recipient_id, state, step, next_due_at,
                                 enqueued_at, created_at, updated_at)
        SELECT c.id, r.id, 'pending', 0, :now - interval '30 seconds',
               CASE WHEN r.id > :n * 0.98 THEN NULL ELSE :now - interval '20 seconds' END,
               :now, :now
        FROM recipient r, campaign c ORDER BY r.id""",
    # Waiting for answers until tomorrow; every 1000th case is due now, every 10,000th was
    # claimed an hour ago and its message lost; every 1000th (others) has an open query.
    "waiting": """
        INSERT INTO recall_case (campaign_id, recipient_id, state, step, next_due_at,
                                 enqueued_at, query_due_at, created_at, updated_at)
        SELECT c.id, r.id,
               CASE WHEN r.id % 1000 = 500 THEN 'query_open' ELSE 'awaiting_response' END, 0,
               CASE WHEN r.id % 1000 = 0 THEN :now - interval '1 minute'
                    WHEN r.id % 1000 = 500 THEN NULL
                    ELSE :now + interval '1 day' END,
               CASE WHEN r.id % 10000 = 0 THEN :now - interval '1 hour' END,
               CASE WHEN r.id % 1000 = 500 THEN :now + interval '1 day' END,
               :now, :now
        FROM recipient r, campaign c""",
}

# A thousand handled webhooks and sent follow-ups, a few of each still waiting.
_EXTRAS = """
INSERT INTO inbound_event (provider, kind, provider_event_id, payload, received_at, handled_at)
SELECT 'twilio', 'sms', 'SMbench' || g, '{}', :now - interval '10 minutes',
       CASE WHEN g % 200 = 0 THEN NULL ELSE :now - interval '10 minutes' END
FROM generate_series(1, 1000) g;
INSERT INTO followup_send (key, case_id, channel, kind, status, cost_units, tries,
                           claimed_at)
SELECT 'bench:' || id, id, 'sms', 'confirmation',
       CASE WHEN id % 200 = 0 THEN 'claimed' ELSE 'sent' END, 0, 0,
       :now - interval '10 minutes'
FROM recall_case ORDER BY id LIMIT 1000;
"""


def due_query_before(session: Session, batch: int) -> list[int]:
    """The same-run baseline: the due-work query as main ran it before issue 16 (read
    only), which wades through every due case a fan-out has already claimed."""
    stale = NOW - timedelta(seconds=get_settings().requeue_after_seconds)
    # Main's schema: without the partial indexes of 0004 (rolled back with the round).
    session.execute(text("DROP INDEX ix_case_due_free, ix_case_claimed"))
    query = (
        select(Case.id)
        .join(Campaign, Campaign.id == Case.campaign_id)
        .where(
            Campaign.state == "running",
            Case.state.in_(sweep.LADDER),
            Case.next_due_at <= NOW,
            or_(Case.enqueued_at.is_(None), Case.enqueued_at < stale),
        )
        .order_by(Case.next_due_at)
        .limit(batch)
    )
    return list(session.scalars(query))


def jobs() -> dict[str, Callable[[Session], Any]]:
    """One round of each scheduler job's database work (as schedules.jobs calls it)."""
    batch = get_settings().due_batch_size
    return {
        "due_work": lambda s: sweep.claim_due_cases(s, NOW, batch),
        "due_work (before)": lambda s: due_query_before(s, batch),
        "lost_webhooks": lambda s: sweep.claim_unhandled_events(s, NOW, batch),
        "lost_follow_ups": lambda s: outbox.claim_stranded_followups(s, NOW, batch),
        "query_deadlines": lambda s: deadlines.overdue_queries(s, NOW),
        "campaign_deadlines": lambda s: deadlines.close_expired_campaigns(s, NOW),
        "follow_up_waves": lambda s: waves.run_follow_up_waves(s, NOW),
        "metric_snapshots": lambda s: snapshots.take_snapshots(s, NOW),
        "tally_folding": lambda s: tallies.compact(s),
    }


@dataclass
class Round:
    ms: float
    statements: list[tuple[str, Any]] = field(default_factory=list)


def time_job(engine: Engine, job: Callable[[Session], Any], rounds: int) -> Round:
    """Median wall time of ``rounds`` rounds, each rolled back; the statements of the last."""
    times, seen = [], []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool):
        if not many:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        for _ in range(rounds):
            seen.clear()
            with Session(engine) as session:
                started = time.perf_counter()
                job(session)
                session.flush()
                times.append((time.perf_counter() - started) * 1000)
                session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return Round(statistics.median(times), list(seen))


@dataclass
class Plan:
    indexes: set[str] = field(default_factory=set)
    seq_scans: set[str] = field(default_factory=set)
    rows_read: int = 0  # rows scan nodes returned plus rows they read and threw away


def explain(engine: Engine, statements: list[tuple[str, Any]], show: bool = False) -> Plan:
    """EXPLAIN ANALYZE each statement in turn, in one transaction rolled back at the end (so
    a claim sees what the release before it did); ``show`` prints the plans as text."""
    plan = Plan()
    with engine.connect() as conn:
        for statement, params in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                conn.exec_driver_sql(statement, params)  # e.g. the baseline's DROP INDEX
                continue
            if show:
                with conn.begin_nested() as inner:
                    lines = conn.exec_driver_sql("EXPLAIN ANALYZE " + statement, params).scalars()
                    print(" ".join(statement.split())[:160] + "\n  " + "\n  ".join(lines))
                    inner.rollback()
            raw = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            _walk(raw_plan(raw), plan)
        conn.rollback()
    return plan


def raw_plan(result: Any) -> Any:
    value = result.scalar_one()
    data = json.loads(value) if isinstance(value, str) else value
    return data[0]["Plan"]


def _walk(node: dict[str, Any], plan: Plan) -> None:
    kind = node.get("Node Type", "")
    if "Index" in kind and node.get("Index Name"):
        plan.indexes.add(node["Index Name"])
    if kind == "Seq Scan":
        plan.seq_scans.add(node.get("Relation Name", "?"))
    if "Scan" in kind and node.get("Relation Name") == "recall_case":
        loops = node.get("Actual Loops", 1)
        read = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        plan.rows_read += int(read * loops)
    for child in node.get("Plans", []):
        _walk(child, plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "RECALL_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--database", default=f"recall_bench_scheduler_{os.getpid()}")
    parser.add_argument("--plans", nargs="*", default=[], help="jobs whose plans to print")
    args = parser.parse_args()
    url = fresh_database(args.admin_url, args.database)
    engine = make_engine(url)
    results: dict[tuple[str, str, int], tuple[Round, Plan]] = {}
    try:
        for size in args.sizes:
            for state in STATES:
                started = time.perf_counter()
                build(engine, size, state)
                print(f"built {size:,} cases ({state}) in {time.perf_counter() - started:.1f}s")
                for name, job in jobs().items():
                    measured = time_job(engine, job, args.rounds)
                    show = name in args.plans and size == max(args.sizes)
                    if show:
                        print(f"--- {name}, {state}, {size:,} cases")
                    plan = explain(engine, measured.statements, show)
                    results[(state, name, size)] = (measured, plan)
    finally:
        engine.dispose()
        drop_database(args.admin_url, args.database)
    report(results, args.sizes)


def report(results: dict[tuple[str, str, int], tuple[Round, Plan]], sizes: list[int]) -> None:
    small, big = min(sizes), max(sizes)
    at_small, at_big = f"ms @{small:,}", f"ms @{big:,}"
    print(
        f"\n{'state':8} {'job':19} {at_small:>12} {at_big:>14}"
        f" {'ratio':>6} {'case rows read':>16}  indexes (seq scans)"
    )
    for state in STATES:
        for name in jobs():
            (low, _), (high, plan) = results[(state, name, small)], results[(state, name, big)]
            small_plan = results[(state, name, small)][1]
            seq = f" (seq: {', '.join(sorted(plan.seq_scans))})" if plan.seq_scans else ""
            print(
                f"{state:8} {name:19} {low.ms:12.2f} {high.ms:14.2f}"
                f" {high.ms / max(low.ms, 1e-3):6.1f}"
                f" {small_plan.rows_read:>7,}/{plan.rows_read:<8,}  "
                f"{', '.join(sorted(plan.indexes)) or '-'}{seq}"
            )


if __name__ == "__main__":
    main()
