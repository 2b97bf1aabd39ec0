"""``recall remedies import CAMPAIGN_ID FILE.csv [--skip-invalid]``: the service centre's
remedy confirmations (pipeline.remedies)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from cli._console import campaign_id_argument, database_hint, err, fail, fail_input, out

remedies_app = typer.Typer(help="Remedy confirmations.", no_args_is_help=True)
# Files smaller than this finish before a progress line would help.
PROGRESS_FROM = 5000


def register(app: typer.Typer) -> None:
    app.add_typer(remedies_app, name="remedies")


@remedies_app.command("import")
def import_command(
    campaign_id: int = campaign_id_argument(),
    file: Path = typer.Argument(..., help="CSV with external_id,completed_at[,note]."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Apply the valid rows; write bad ones to *.rejects.csv."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome counts as JSON."),
) -> None:
    """Confirm remedies done: an agreed case completes; a case that never agreed completes
    too and is counted apart; a case confirmed before is left as it is. A file with any bad
    row changes nothing (unless --skip-invalid)."""
    from sqlalchemy.exc import SQLAlchemyError

    from cli._roles import require_cli_role
    from pipeline.campaigns.users import check_users_path
    from pipeline.clock import utcnow
    from pipeline.db import session_scope
    from pipeline.errors import InputError, InputErrors, NotFound
    from pipeline.remedies.importing import import_confirmations

    require_cli_role("operator", "remedies import")
    try:
        check_users_path(file)
        with session_scope() as session:
            result = import_confirmations(
                session, campaign_id, file, actor=f"cli:{getpass.getuser()}", now=utcnow(),
                skip_invalid=skip_invalid, progress=_progress,
            )  # fmt: skip
    except (InputError, InputErrors) as error:
        fail_input(error)
    except NotFound as error:
        fail(str(error), code=1)
    except SQLAlchemyError as error:
        fail(database_hint(error))
    if result.rejected:
        err.print(f"[yellow]{result.rejected} bad row(s) skipped[/]; see {result.rejects_path}")
    outcomes = result.report.outcomes
    if as_json:
        out.print(json.dumps({"applied": result.applied, "rejected": result.rejected, **outcomes}))
        return
    out.print(
        f"{result.applied} confirmation(s) for campaign {campaign_id}: "
        f"{outcomes['completed']} completed, {outcomes['completed_without_agreement']} "
        f"completed without agreeing, {outcomes['recorded']} already complete (recorded), "
        f"{outcomes['already_confirmed']} confirmed before (unchanged)"
    )


def _progress(done: int, total: int) -> None:
    if total >= PROGRESS_FROM:
        err.print(f"applied {done}/{total}")
