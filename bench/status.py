"""Benchmark: how cheap `recall status` (pipeline.reporting.metrics.campaign_status) is for a
campaign
of a million cases on PostgreSQL, next to a bare `SELECT count(*)` of its cases in the same
run — the floor any query that looks at the cases pays — and next to counting the same
figures from the rows (what the status did before the tallies; still the SQLite path).

The status is read three ways: right after the tallies were folded; with --pending single-
case updates appended since (what accumulates between two foldings at a high event rate);
and by scanning the rows. It also times those updates with and without the tally triggers.

    python bench/status.py [--cases 1000000] [--pending 20000]

Cases, attempts and responses are made with set-based SQL (generate_series), spread over
every state, channel and answer the way a campaign half-way through looks.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from _support import drop_database, fresh_database
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.reporting import tallies
from pipeline.reporting.metrics import campaign_status, counts_from_rows

STATES = ["pending", "notifying", "awaiting_response", "agreed", "completed", "refused"]
STATES += ["query_open", "opted_out", "unreachable", "cancelled"]

FILL = """
INSERT INTO campaign (id, name, reason, description, remedy, help_text, spec, policy,
    completion, deadline, state, fan_out_cursor, created_at)
VALUES (1, 'bench', 'product_quality', 'd', 'r', '', '{}', '{}', 'on_agree', :deadline,
    'running', 0, now());
INSERT INTO recipient (id, external_id, name, phone, email, locale, timezone, risk_tier,
    sms_opted_out, email_opted_out, voice_opted_out, created_at, updated_at)
SELECT g, 'u' || g, 'n', '+1415' || lpad(g::text, 7, '0'), NULL, 'en', 'UTC', 2,
    false, false, false, now(), now() FROM generate_series(1, :n) g;
INSERT INTO recall_case (id, campaign_id, recipient_id, state, step, created_at, updated_at,
    first_notified_at, reached_at, last_response, last_response_at, answered_channel,
    answered_step)
SELECT g, 1, g, (CAST(:states AS text[]))[1 + g % 10], 0, now(), now(), now() - interval '1 hour',
    CASE WHEN g % 5 > 0 THEN now() END,
    CASE WHEN g % 3 = 0 THEN 'agree' END, CASE WHEN g % 3 = 0 THEN now() END,
    CASE WHEN g % 3 = 0 THEN 'sms' END, CASE WHEN g % 3 = 0 THEN 0 END
FROM generate_series(1, :n) g;
INSERT INTO attempt (case_id, channel, step, status, status_history, cost_units, tries,
    claimed_at, updated_at)
SELECT g, 'sms', 0, CASE WHEN g % 7 = 0 THEN 'failed' ELSE 'delivered' END, '[]', 1, 1,
    now(), now() FROM generate_series(1, :n) g;
INSERT INTO response (case_id, channel, kind, raw_text, step, received_at)
SELECT g, 'sms', (ARRAY['agree','refuse','query','opt_out'])[1 + g % 4], 'YES', 0, now()
FROM generate_series(1, :n, 3) g;
ANALYZE;
"""


COUNT = "SELECT count(*) FROM recall_case WHERE campaign_id = 1"


def _median_ms(engine: Engine, runs: int, read: Callable[[Session], object]) -> float:
    times = []
    for _ in range(runs):
        with Session(engine) as session:
            started = time.perf_counter()
            read(session)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _updates_ms(engine: Engine, count: int) -> float:
    """``count`` single-case state changes, one statement and commit each, as workers make."""
    states = ["awaiting_response", "agreed", "completed", "refused", "query_open"]
    started = time.perf_counter()
    with engine.connect() as conn:
        for n in range(count):
            conn.execute(
                text("UPDATE recall_case SET state = :state WHERE id = :id"),
                {"state": states[n % len(states)], "id": 1 + (n * 7919) % count},
            )
            conn.commit()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pending", type=int, default=20_000)
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    name = "recall_bench_status"
    url = fresh_database(args.pg_admin_url, name)
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            deadline = datetime.now(UTC) + timedelta(days=28)
            for statement in FILL.split(";"):
                if statement.strip():
                    conn.execute(
                        text(statement), {"n": args.cases, "states": STATES, "deadline": deadline}
                    )
        print(f"filled {args.cases:,} cases in {time.perf_counter() - started:.1f}s")
        with Session(engine) as session:
            tallies.compact(session)
            session.commit()
        with engine.connect() as conn:  # what autovacuum does after the fold, at once
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE campaign_tally"
            )
        count = _median_ms(engine, args.runs, lambda s: s.execute(text(COUNT)))
        folded = _median_ms(engine, args.runs, lambda s: campaign_status(s, 1))
        with_triggers = _updates_ms(engine, args.pending)
        pending = _median_ms(engine, args.runs, lambda s: campaign_status(s, 1))
        with Session(engine) as session:
            status = campaign_status(session, 1)
        assert status["cases"] == args.cases, status["cases"]
        with engine.begin() as conn:
            tallies.uninstall(conn)
        without_triggers = _updates_ms(engine, args.pending)
        scanned = _median_ms(engine, args.runs, lambda s: counts_from_rows(s, 1))

        def line(label: str, ms: float) -> None:
            print(f"{label:<44}: {ms:8.1f} ms  ({ms / count:5.2f} x the count)")

        line("SELECT count(*) of its cases (the floor)", count)
        line("campaign_status, tallies folded", folded)
        line(f"campaign_status, {args.pending:,} updates unfolded", pending)
        line("the same figures counted from the rows", scanned)
        print(
            f"{args.pending:,} one-case UPDATEs: {with_triggers / args.pending * 1000:.0f} µs each "
            f"with the tally triggers, {without_triggers / args.pending * 1000:.0f} µs without "
            f"({with_triggers / without_triggers:.2f} x)"
        )
    finally:
        engine.dispose()
        drop_database(args.pg_admin_url, name)


if __name__ == "__main__":
    main()
