from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

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
