"""Per-campaign counters that PostgreSQL keeps itself, so ``recall status`` of a campaign of a
million cases reads a few hundred rows instead of scanning millions.

Every figure in the status is a sum of *facts* about rows. A case contributes
``state:agreed`` 1, ``reached:agreed`` 1, ``step:0:sms:agree`` 1, ``answer_time:<bucket>`` 1;
an attempt ``status:sms:delivered`` 1, ``sent:sms`` 1, ``cost:sms`` 0.0079 (a failed one
``error:sms:30006`` 1); a response ``response:agree:sms`` 1. Triggers on ``recall_case``,
``attempt`` and ``response`` append the facts of each new row minus those of the old one to
``campaign_tally`` — so nothing that changes a row can forget to count it: the ORM, a
set-based launch, a sweep, a cancel or a hand-typed UPDATE alike. Row triggers carry a WHEN
clause, so the many updates that change no figure (most only move ``next_due_at``) run no
function at all; bulk inserts and deletes use statement triggers over transition tables.

Why an append-only log of deltas and not one counter row per figure: a counter row would be
updated by every worker transaction of the campaign and held locked until each commits —
one global queue again, and deadlocks when two transactions touch two counters in opposite
orders. Inserts never wait for each other. ``compact`` (a scheduler job) folds the deltas
into one row per (campaign, fact) in a single statement; a reader always sums whatever is
there, so it is exact with or without compaction, and cheap when compaction keeps up.

Time to answer is kept as a histogram with 16 buckets per doubling (each ~4.4% wide), so
the median it gives is within ~2.2% of the exact one.

SQLite (the embedded demo) has no statement-level triggers; there ``pipeline.reporting.metrics``
scans
the rows instead, which is quick at the sizes SQLite is meant for.

Not counted: TRUNCATE (no row triggers fire); recount with ``rebuild`` after one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

BUCKETS_PER_DOUBLING = 16
# Attempt statuses that are a provider refusing or failing a send (``/metrics`` counts
# them by error code).
PROVIDER_FAILURES = ("failed", "undelivered", "permanent_failure")


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


# The facts of one row, as set-returning SQL functions over that row's columns (scalar
# arguments, not the row type, so dropping a table never depends on them).
_FACT_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION recall_answer_bucket(seconds double precision)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN seconds < 1 THEN 0
        ELSE 1 + floor({BUCKETS_PER_DOUBLING} * ln(seconds) / ln(2.0))::integer END
$$;

CREATE OR REPLACE FUNCTION recall_case_facts(
    state text, reached_at timestamptz, last_response_at timestamptz, answered_step integer,
    answered_channel text, last_response text, first_notified_at timestamptz)
RETURNS TABLE (name text, delta double precision) LANGUAGE sql IMMUTABLE AS $$
    SELECT f.name, f.delta FROM (VALUES
        ('state:' || state, 1.0::double precision),
        (CASE WHEN reached_at IS NOT NULL THEN 'reached:' || state END, 1.0),
        (CASE WHEN last_response_at IS NOT NULL THEN 'answered:' || state END, 1.0),
        (CASE WHEN answered_step IS NOT NULL THEN 'step:' || answered_step || ':'
            || coalesce(answered_channel, '') || ':' || coalesce(last_response, '') END, 1.0),
        (CASE WHEN first_notified_at IS NOT NULL AND last_response_at IS NOT NULL
            THEN 'answer_time:' || recall_answer_bucket(
                extract(epoch FROM last_response_at - first_notified_at)::double precision)
            END, 1.0)
    ) AS f(name, delta)
    WHERE f.name IS NOT NULL
$$;

CREATE OR REPLACE FUNCTION recall_attempt_facts(
    channel text, status text, sent_at timestamptz, cost_units double precision,
    error_code text)
RETURNS TABLE (name text, delta double precision) LANGUAGE sql IMMUTABLE AS $$
    SELECT f.name, f.delta FROM (VALUES
        ('status:' || channel || ':' || status, 1.0::double precision),
        (CASE WHEN sent_at IS NOT NULL THEN 'sent:' || channel END, 1.0),
        (CASE WHEN cost_units <> 0 THEN 'cost:' || channel END, cost_units),
        (CASE WHEN status IN ({_sql_list(PROVIDER_FAILURES)})
            THEN 'error:' || channel || ':' || coalesce(error_code, 'none') END, 1.0)
    ) AS f(name, delta)
    WHERE f.name IS NOT NULL
$$;

CREATE OR REPLACE FUNCTION recall_response_facts(kind text, channel text)
RETURNS TABLE (name text, delta double precision) LANGUAGE sql IMMUTABLE AS $$
    SELECT 'response:' || kind || ':' || coalesce(channel, ''), 1.0::double precision
$$;
"""

# The columns each table's facts read, and the facts of row ``{r}``.
_COLUMNS = {
    "recall_case": (
        "campaign_id", "state", "reached_at", "last_response_at", "answered_step",
        "answered_channel", "last_response", "first_notified_at",
    ),
    "attempt": ("case_id", "channel", "status", "sent_at", "cost_units", "error_code"),
    "response": ("case_id", "kind", "channel"),
}  # fmt: skip
_FACTS = {
    "recall_case": "recall_case_facts({r}.state, {r}.reached_at, {r}.last_response_at, "
    "{r}.answered_step, {r}.answered_channel, {r}.last_response, {r}.first_notified_at)",
    "attempt": "recall_attempt_facts({r}.channel, {r}.status, {r}.sent_at, {r}.cost_units, "
    "{r}.error_code)",
    "response": "recall_response_facts({r}.kind, {r}.channel)",
}
_APPEND = "INSERT INTO campaign_tally (campaign_id, name, delta) "


def _facts_of(table: str, rows: str, sign: str = "") -> str:
    """The facts of every row of ``rows`` (a table or a trigger's transition table)."""
    facts = _FACTS[table].format(r="r")
    if table == "recall_case":
        return (
            f"SELECT r.campaign_id, f.name, {sign}f.delta AS delta "
            f"FROM {rows} r CROSS JOIN LATERAL {facts} f"
        )
    # An inner join: rows whose case is already gone (a cascade) are the case trigger's.
    return (
        f"SELECT c.campaign_id, f.name, {sign}f.delta AS delta FROM {rows} r "
        f"JOIN recall_case c ON c.id = r.case_id CROSS JOIN LATERAL {facts} f"
    )


def _append(facts: str) -> str:
    return (
        f"{_APPEND}SELECT campaign_id, name, sum(delta) FROM ({facts}) d "
        "GROUP BY campaign_id, name HAVING sum(delta) <> 0"
    )


def _row_facts(table: str, row: str, sign: str = "") -> str:
    """The facts of trigger row ``row`` (NEW or OLD); none for a response matched to no case."""
    facts = _FACTS[table].format(r=row)
    if table == "recall_case":
        return f"SELECT {row}.campaign_id, f.name, {sign}f.delta AS delta FROM {facts} f"
    return (
        f"SELECT c.campaign_id, f.name, {sign}f.delta AS delta FROM recall_case c "
        f"CROSS JOIN LATERAL {facts} f WHERE c.id = {row}.case_id"
    )


def _trigger_sql(table: str) -> str:
    """Row triggers for changes one row at a time (a worker's UPDATE: the WHEN clause skips,
    without running any function, the many updates that change no figure); statement
    triggers with transition tables for bulk work (a launch inserts a million cases in one
    statement) and for deletes."""
    function = f"recall_tally_{table}"
    changed = " OR ".join(
        f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in _COLUMNS[table]
    )
    bulk_insert = table == "recall_case"
    drops = "".join(
        f"DROP TRIGGER IF EXISTS {function}_{op} ON {table};\n" for op in _TRIGGER_KINDS
    )
    sql = f"""
CREATE OR REPLACE FUNCTION {function}_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_APPEND}{_row_facts(table, "NEW")};
    ELSE
        {_append(f"{_row_facts(table, 'NEW')} UNION ALL {_row_facts(table, 'OLD', '-')}")};
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION {function}_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_append(_facts_of(table, "recall_new_rows"))};
    ELSE
        {_append(_facts_of(table, "recall_old_rows", "-"))};
    END IF;
    RETURN NULL;
END
$$;
{drops}
CREATE TRIGGER {function}_insert AFTER INSERT ON {table}
"""
    if bulk_insert:
        sql += f"""    REFERENCING NEW TABLE AS recall_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}_rows();
"""
    else:
        sql += f"    FOR EACH ROW EXECUTE FUNCTION {function}_row();\n"
    return (
        sql
        + f"""CREATE TRIGGER {function}_update AFTER UPDATE ON {table}
    FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION {function}_row();
CREATE TRIGGER {function}_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS recall_old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}_rows();
"""
    )


_TRIGGER_KINDS = ("insert", "update", "delete")

# Deleting a case cascades to its attempts and responses, whose own triggers then cannot
# reach the case for its campaign: a row trigger takes their facts off while it still can.
_CASE_CHILDREN_SQL = f"""
CREATE OR REPLACE FUNCTION recall_tally_case_children() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {
    _append(
        " UNION ALL ".join(
            f"{_facts_of(table, table, '-')} WHERE r.case_id = OLD.id"
            for table in ("attempt", "response")
        )
    )
};
    RETURN OLD;
END
$$;
DROP TRIGGER IF EXISTS recall_tally_case_children ON recall_case;
CREATE TRIGGER recall_tally_case_children BEFORE DELETE ON recall_case
    FOR EACH ROW EXECUTE FUNCTION recall_tally_case_children();
"""

INSTALL_SQL = (
    _FACT_FUNCTIONS + "".join(_trigger_sql(table) for table in _FACTS) + _CASE_CHILDREN_SQL
)

UNINSTALL_SQL = (
    "".join(
        f"DROP TRIGGER IF EXISTS recall_tally_{table}_{op} ON {table};\n"
        for table in _FACTS
        for op in _TRIGGER_KINDS
    )
    + "DROP TRIGGER IF EXISTS recall_tally_case_children ON recall_case;\n"
    + "".join(
        f"DROP FUNCTION IF EXISTS {name};\n"
        for name in (
            *(f"recall_tally_{table}_{kind}()" for table in _FACTS for kind in ("row", "rows")),
            "recall_tally_case_children()",
            "recall_case_facts(text, timestamptz, timestamptz, integer, text, text, timestamptz)",
            "recall_attempt_facts(text, text, timestamptz, double precision, text)",
            "recall_response_facts(text, text)",
            "recall_answer_bucket(double precision)",
        )
    )
)


def _all_facts(where: str = "") -> str:
    """Facts of every stored row (of one campaign when ``where`` filters ``campaign_id``)."""
    union = " UNION ALL ".join(_facts_of(table, table) for table in _FACTS)
    return f"SELECT * FROM ({union}) a {where}"


def kept_by(connection: Connection) -> bool:
    """Whether this database keeps tallies (PostgreSQL) or its rows must be scanned."""
    return connection.dialect.name == "postgresql"


def install(connection: Connection) -> None:
    """Create the triggers and count what is already stored (idempotent)."""
    connection.exec_driver_sql(INSTALL_SQL)
    rebuild(connection)


def uninstall(connection: Connection) -> None:
    connection.exec_driver_sql(UNINSTALL_SQL)


def rebuild(connection: Connection) -> None:
    """Recount every campaign from its rows. Writers must be stopped (a migration)."""
    connection.execute(text("DELETE FROM campaign_tally"))
    connection.execute(text(_append(_all_facts())))


def read(session: Session, campaign_id: int) -> dict[str, float]:
    """The campaign's facts: name → sum (absent = 0)."""
    rows = session.execute(
        text(
            "SELECT name, sum(delta) FROM campaign_tally WHERE campaign_id = :campaign "
            "GROUP BY name"
        ),
        {"campaign": campaign_id},
    )
    return {name: float(total) for name, total in rows if total}


def read_all(session: Session, *, prefix: str = "") -> list[tuple[int, str, float]]:
    """(campaign id, fact, sum) of every campaign, for the facts whose name starts with
    ``prefix``."""
    rows = session.execute(
        text(
            "SELECT campaign_id, name, sum(delta) FROM campaign_tally "
            "WHERE starts_with(name, :prefix) GROUP BY campaign_id, name"
        ),
        {"prefix": prefix},
    )
    return [(campaign_id, name, float(total)) for campaign_id, name, total in rows if total]


def recount(session: Session, campaign_id: int) -> dict[str, float]:
    """The same facts counted from the rows themselves (slow; to check ``read``)."""
    query = (
        f"SELECT name, sum(delta) FROM ({_all_facts('WHERE campaign_id = :campaign')}) f "
        "GROUP BY name HAVING sum(delta) <> 0"
    )
    rows = session.execute(text(query), {"campaign": campaign_id})
    return {name: float(total) for name, total in rows}


def compact(session: Session) -> int:
    """Fold the deltas of every campaign that has new ones into one row per fact; returns
    the rows folded away. Campaigns with nothing new are not touched.

    Safe beside running writers: the DELETE removes only the rows its snapshot sees, rows
    committed meanwhile stay as they are (still unfolded, for the next fold), and readers
    see the old rows or the folded ones, never both or neither."""
    folded = session.execute(
        text(
            "WITH touched AS (SELECT DISTINCT campaign_id FROM campaign_tally WHERE NOT folded), "
            "gone AS (DELETE FROM campaign_tally "
            "WHERE campaign_id IN (SELECT campaign_id FROM touched) "
            "RETURNING campaign_id, name, delta), "
            "kept AS (INSERT INTO campaign_tally (campaign_id, name, delta, folded) "
            "SELECT campaign_id, name, sum(delta), true FROM gone GROUP BY campaign_id, name "
            "HAVING sum(delta) <> 0 RETURNING 1) "
            "SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)"
        )
    ).scalar_one()
    return int(folded)


def answer_bucket(seconds: float) -> int:
    """The histogram bucket of a time to answer (the SQL ``recall_answer_bucket``)."""
    if seconds < 1:
        return 0
    return 1 + math.floor(BUCKETS_PER_DOUBLING * math.log2(seconds))


def bucket_midpoint(bucket: int) -> float:
    """A bucket's geometric middle: within ~2.2% of anything in it."""
    if bucket <= 0:
        return 0.5
    return float(2 ** ((bucket - 0.5) / BUCKETS_PER_DOUBLING))


def median_from_histogram(counts: Mapping[int, float]) -> float | None:
    """The median time to answer from bucket counts (None when nobody answered): like an
    exact median, the mean of the two middle answers when their number is even."""
    total = round(sum(counts.values()))
    if total <= 0:
        return None
    middle = {(total + 1) // 2, total // 2 + 1}
    found: list[float] = []
    seen = 0
    for bucket in sorted(counts):
        seen += round(counts[bucket])
        found += [bucket_midpoint(bucket) for rank in sorted(middle) if seen >= rank]
        middle = {rank for rank in middle if rank > seen}
    return round(sum(found) / len(found), 1)


__all__ = [
    "INSTALL_SQL",
    "answer_bucket",
    "compact",
    "install",
    "kept_by",
    "median_from_histogram",
    "read",
    "rebuild",
    "recount",
    "uninstall",
]
