"""Alembic, configured in code so ``recall db upgrade`` works from any directory.

``alembic_config(url)`` is what the alembic command-line tool would read from alembic.ini;
``upgrade(url)`` applies every revision. To regenerate the initial revision after a model
change (nothing is deployed yet): ``make migration``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from pipeline.models import Base
from pipeline.reporting import tallies

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    """Alembic settings; ``url`` defaults to ``RECALL_DATABASE_URL``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    config.set_main_option("path_separator", "os")
    # Passed as an attribute, not an option: ini interpolation would mangle a "%" in a password.
    config.attributes["url"] = url
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def create_schema(engine: Engine) -> None:
    """The schema without Alembic, for tests and benchmarks that start from an empty
    database: the models' tables plus what revision 0002 adds to them (the tally triggers
    on PostgreSQL), so such a database counts exactly as a migrated one."""
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        if tallies.kept_by(connection):
            tallies.install(connection)


def drop_schema(engine: Engine) -> None:
    """Undo ``create_schema`` (or ``upgrade``): the triggers' functions first, then the tables."""
    with engine.begin() as connection:
        if tallies.kept_by(connection):
            tallies.uninstall(connection)
    Base.metadata.drop_all(engine)


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
