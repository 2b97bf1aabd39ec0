"""`recall db upgrade`: apply the database migrations."""

from __future__ import annotations

import typer
from sqlalchemy.exc import SQLAlchemyError

from cli._console import err, fail
from pipeline.db import normalise_url
from pipeline.settings import get_settings

db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(
    revision: str = typer.Argument("head", help="Revision to upgrade to."),
) -> None:
    """Apply migrations to RECALL_DATABASE_URL (creates the tables on a new database)."""
    from pipeline.migrations import upgrade

    url = get_settings().database_url
    from alembic.util.exc import CommandError

    try:
        upgrade(url, revision)
    except CommandError as error:
        fail(f"revision: {_first_line(error)} (use head, the default)")
    except SQLAlchemyError as error:
        fail(f"cannot migrate {_safe(url)}: {error.__class__.__name__}: {_first_line(error)}")
    err.print(f"database at {_safe(url)} is at revision {revision}")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(normalise_url(url)).render_as_string(hide_password=True)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
