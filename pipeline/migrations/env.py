"""Alembic environment: the database URL comes from the caller or from settings."""

from __future__ import annotations

from typing import Any

from alembic import context

from pipeline.db import make_engine, normalise_url
from pipeline.models import Base, UTCDateTime
from pipeline.settings import get_settings

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    return normalise_url(config.attributes.get("url") or get_settings().database_url)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Migrations stay free of our own types: UTCDateTime is a DateTime with a time zone.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite alters tables by copying them
        render_item=render_item,
        **options,
    )


def run_offline() -> None:
    configure(url=database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(database_url())
    try:
        with engine.begin() as connection:
            configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
