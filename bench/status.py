"""Benchmark: how cheap `recall status` (pipeline.metrics.campaign_status) is for a campaign
of a million cases on PostgreSQL, next to a bare `SELECT count(*)` of its cases in the same
run — the floor any status query pays.

    python bench/status.py [--cases 1000000]

Cases, attempts and responses are made with set-based SQL (generate_series), spread over
every state, channel and answer the way a campaign half-way through looks.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from _support import drop_database, fresh_database
from sqlalchemy import text
from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.metrics import campaign_status

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
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
        status_s, count_s = [], []
        for _ in range(args.runs):
            with Session(engine) as session:
                t0 = time.perf_counter()
                status = campaign_status(session, 1)
                status_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                session.execute(text("SELECT count(*) FROM recall_case WHERE campaign_id = 1"))
                count_s.append(time.perf_counter() - t0)
        assert status["cases"] == args.cases, status["cases"]
        s, c = statistics.median(status_s), statistics.median(count_s)
        print(f"campaign_status, {args.cases:,} cases : median {s * 1000:8.1f} ms")
        print(f"SELECT count(*) of its cases  : median {c * 1000:8.1f} ms")
        print(f"status / bare count           : {s / c:.1f} x")
    finally:
        engine.dispose()
        drop_database(args.pg_admin_url, name)


if __name__ == "__main__":
    main()
