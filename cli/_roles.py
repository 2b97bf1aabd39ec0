"""The role CLI commands act with (``RECALL_CLI_ROLE``, default ``admin``).

The CLI runs on the machine, by someone who holds the database URL: it is the operator of
the machine, so it acts as admin unless told otherwise. A lower role makes state-changing
commands refuse (exit 3), with the refusal audited, like a 403 on the dashboard.
"""

from __future__ import annotations

import getpass

import typer

from cli._console import err

REFUSED_EXIT = 3


def cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


def require_cli_role(needed: str, command: str) -> None:
    """Return when ``RECALL_CLI_ROLE`` allows ``needed``; else audit, say so, exit 3."""
    from pipeline.privacy.roles import allows
    from pipeline.settings import get_settings

    role = get_settings().cli_role
    if allows(role, needed):
        return
    _audit_refusal(command, role, needed)
    err.print(
        f"error: recall {command}: this needs the {needed} role; RECALL_CLI_ROLE is {role}",
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(REFUSED_EXIT)


def _audit_refusal(command: str, role: str, needed: str) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from pipeline.db import session_scope
    from pipeline.privacy import audit

    data = {"command": command, "role": role, "needs": needed}
    try:
        with session_scope() as session:
            audit.record(session, actor=cli_actor(), action="cli.refused", entity="cli", data=data)
    except SQLAlchemyError:
        pass  # no database to write to: the refusal itself still stands
