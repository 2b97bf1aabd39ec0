from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from pipeline.db import make_engine
from pipeline.migrations import current_head, drop_schema, upgrade
from pipeline.models import Base


def _fresh_upgrade(engine: Engine) -> None:
    drop_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    url = engine.url.render_as_string(hide_password=False)
    upgrade(url)


def test_upgrade_head_matches_the_models(engine: Engine) -> None:
    """A model change without a regenerated migration fails here (`make migration`)."""
    _fresh_upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert diff == [], f"migrations are stale; run `make migration`: {diff}"
    assert version == current_head()


def test_upgrade_is_idempotent(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    assert "recall_case" in inspect(engine).get_table_names()
    engine.dispose()


def test_reply_codes_doubled_before_0010_are_undone(engine: Engine) -> None:
    """Two active campaigns that got the same code before the unique index: the earliest
    keeps it, the later one loses it (``code_of`` gives it a free one when next needed);
    a closed campaign keeps its old code, which the index does not cover."""
    drop_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    url = engine.url.render_as_string(hide_password=False)
    upgrade(url, "0009")
    insert = (
        "INSERT INTO campaign (id, name, reason, description, remedy, help_text, spec, policy,"
        " completion, deadline, state, fan_out_cursor, created_at, reply_code) VALUES"
        " (:id, 'c', 'product_quality', 'd', 'r', '', '{}', '{}', 'on_agree',"
        " '2030-01-01 00:00:00', :state, 0, '2026-01-01 00:00:00', :code)"
    )
    with engine.begin() as conn:
        for id_, state, code in [(1, "closed", "10"), (2, "running", "10"), (3, "paused", "10"),
                                 (4, "draft", "11")]:  # fmt: skip
            conn.execute(text(insert), {"id": id_, "state": state, "code": code})
    upgrade(url)
    with engine.connect() as conn:
        codes = conn.execute(text("SELECT id, reply_code FROM campaign ORDER BY id")).all()
    assert [tuple(row) for row in codes] == [(1, "10"), (2, "10"), (3, None), (4, "11")]
