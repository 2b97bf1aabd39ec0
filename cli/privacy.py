"""`recall erase` and `recall audit verify`: the privacy commands."""

from __future__ import annotations

import getpass
from datetime import datetime

import typer

from cli._roles import require_cli_role
from pipeline.clock import as_utc, utcnow
from pipeline.compliance import records
from pipeline.db import get_engine, session_scope
from pipeline.privacy import audit
from pipeline.privacy.erasure import RecipientNotFound, erase_recipient, purge_residue

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def erase(
    external_id: str = typer.Argument(..., help="The recipient's external_id from USERS.csv."),
    asked: str | None = typer.Option(
        None, "--asked", help="When the person asked (ISO date or datetime, UTC); default now."
    ),
) -> None:
    """Irrecoverably remove one recipient's personal data (name, phone, email, message texts
    and raw webhooks), keeping anonymous counts; the erasure is recorded on the audit log and
    as an erasure request (asked, done) that the campaign report lists. Needs the admin role
    (RECALL_CLI_ROLE, admin unless set)."""
    require_cli_role("admin", "erase")
    asked_at = _asked_at(asked)
    engine = get_engine()
    try:
        with session_scope(engine) as session:
            summary = erase_recipient(
                session, external_id, actor=f"cli:{getpass.getuser()}", asked_at=asked_at
            )
    except RecipientNotFound:
        typer.echo(f"error: no recipient with external id {external_id!r}", err=True)
        raise typer.Exit(1) from None
    purge_residue(engine)
    typer.echo(
        f"erased recipient #{summary.recipient_id}: {summary.responses} responses and "
        f"{summary.inbound_events} stored webhooks scrubbed; {summary.cases} cases and "
        f"{summary.attempts} attempts kept as anonymous counts"
    )


def _asked_at(raw: str | None) -> datetime | None:
    """``--asked`` as a UTC moment; a bad or future value ends the command (exit 2)."""
    if raw is None:
        return None
    try:
        moment = as_utc(datetime.fromisoformat(raw.strip()))
    except ValueError:
        typer.echo(f"error: --asked: {raw!r} is not an ISO date (write 2027-03-01)", err=True)
        raise typer.Exit(2) from None
    if moment > utcnow():
        typer.echo(f"error: --asked: {raw!r} is in the future", err=True)
        raise typer.Exit(2)
    return moment


@audit_app.command("verify")
def verify(
    heads: bool = typer.Option(
        False, "--heads", help="Also print each chain's head (its newest row's hash)."
    ),
) -> None:
    """Check the audit log's hash chains: exit 0 when intact, 1 naming the first bad row.
    The head printed is sha256 over the chains' heads; keep it (or the chains' heads) elsewhere
    to notice later that newest rows were deleted."""
    with session_scope() as session:
        report = audit.verify(session)
        # Kept (intact or broken) so each campaign's compliance shows the last verification.
        records.record_verification(session, report)
    if not report.ok:
        typer.echo(
            f"audit log BROKEN at event #{report.first_bad_id} (chain {report.first_bad_chain}): "
            f"{report.reason} ({report.checked} events before it verified)",
            err=True,
        )
        raise typer.Exit(1)
    chains = f"{report.chains} chain" + ("" if report.chains == 1 else "s")
    typer.echo(f"audit log intact: {report.checked} events on {chains}, head {report.head_hash}")
    if heads:
        for chain, head in sorted(report.chain_heads.items()):
            typer.echo(f"  chain {chain}: {head}")


def register(app: typer.Typer) -> None:
    app.command("erase")(erase)
    app.add_typer(audit_app, name="audit")
