"""`recall launch` and `recall status`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cli._console import campaign_id_argument, database_hint, err, fail, fail_input, out
from cli._remedies_view import remedy_lines
from cli._roles import require_cli_role
from pipeline.campaigns.file import CampaignSpec, load_campaign_file
from pipeline.campaigns.launch import files_fingerprint, launch
from pipeline.campaigns.users import check_users_path
from pipeline.cases.states import LADDER_STATES
from pipeline.channel_port import spec_for
from pipeline.db import get_engine
from pipeline.errors import InputError, InputErrors, NotFound
from pipeline.models import Case, Recipient
from pipeline.reporting.metrics import campaign_status
from pipeline.settings import get_settings

PHASES = {"validating": "Validating users", "loading": "Loading", "storing": "Storing cases"}


def launch_command(
    campaign_file: Path = typer.Argument(..., help="The CAMPAIGN.yaml file."),
    users: Path = typer.Option(..., "--users", help="The USERS.csv file."),
    follow: bool = typer.Option(False, "--follow", help="Show live progress until it settles."),
    as_json: bool = typer.Option(False, "--json", help='Print only {"campaign_id": N}.'),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Import the valid rows; write bad ones to *.rejects.csv."
    ),
) -> None:
    """Validate both files, store the campaign and one case per user, hand it to the pipeline."""
    require_cli_role("operator", "launch")
    spec = load_spec(campaign_file)
    check_users_file(users)
    engine = get_engine()
    # The files' fingerprint lets `recall run` with the same files resume this campaign.
    report = _run_launch(
        engine, spec, users, skip_invalid, run_key=files_fingerprint(campaign_file, users)
    )
    if report.rejected:
        err.print(f"[yellow]{report.rejected} bad row(s) skipped[/]; see {report.rejects_path}")
    note = enqueue_fan_out(report.campaign_id)
    if as_json:
        out.print(json.dumps({"campaign_id": report.campaign_id}))
    else:
        out.print(f"campaign {report.campaign_id} launched with {report.cases} case(s)")
    err.print(note)
    if follow:
        final = follow_campaign(engine, report.campaign_id)
        err.print(status_view(final))
        err.print(settle_note(final))


def _run_launch(
    engine: Engine, spec: CampaignSpec, users: Path, skip_invalid: bool, **options: Any
) -> Any:
    """``pipeline.campaigns.launch.launch`` with progress bars on stderr; bad input ends the
    command."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(PHASES.get(phase, phase), total=total)
            progress.update(tasks[phase], completed=done, total=total)

        try:
            return launch(
                engine, spec, users, skip_invalid=skip_invalid, progress=report, **options
            )
        except (InputError, InputErrors) as error:
            progress.stop()
            fail_input(error)
        except SQLAlchemyError as error:
            progress.stop()
            fail(database_hint(error))


def load_spec(campaign_file: Path) -> CampaignSpec:
    """The validated campaign (its SMS segment warnings printed), or exit 2 with the errors."""
    try:
        spec = load_campaign_file(campaign_file)
    except (InputError, InputErrors) as error:
        fail_input(error)
    for warning in sms_segment_warnings(spec):
        err.print(f"[yellow]warning:[/] {warning}")
    return spec


def check_users_file(users: Path) -> None:
    """A users path that is no readable file ends the command before anything starts."""
    try:
        check_users_path(users)
    except InputError as error:
        fail_input(error)


def sms_segment_warnings(spec: CampaignSpec) -> list[str]:
    """The SMS notice, rendered per locale as a user would get it, past three segments
    costs more and arrives split: say so before anything is sent."""
    from channels.segments import SEGMENT_WARNING_LIMIT, segment_warning
    from pipeline.notices.check import unsaved_campaign
    from pipeline.notices.templates import render_notice

    campaign = unsaved_campaign(spec)
    warnings = []
    for locale in sorted({"en", "zh-CN", *spec.templates}):
        sample = Case(id=0, campaign=campaign, recipient=Recipient(locale=locale, name=""))
        sample.recipient.timezone = "UTC"
        warning = segment_warning(render_notice(sample, "sms").text, SEGMENT_WARNING_LIMIT)
        if warning:
            warnings.append(f"the {locale} SMS notice: {warning}")
    return warnings


WAITING_IN_DATABASE = (
    "no broker configured (RECALL_BROKER_URL): the cases wait in the database. To run them, "
    "`recall run CAMPAIGN.yaml --users USERS.csv` (the same files resume this campaign), or "
    "`recall worker` and `recall scheduler` with RECALL_BROKER_URL set"
)


def enqueue_fan_out(campaign_id: int) -> str:
    """Hand the committed campaign to the pipeline, if a broker is configured."""
    if not get_settings().broker_url:
        return WAITING_IN_DATABASE
    try:
        from actors.campaign import fan_out  # type: ignore[import-not-found]
    except ImportError as error:
        return f"campaign.fan_out is not available yet ({error}); the cases wait in the database"
    fan_out.send(campaign_id)
    return f"campaign.fan_out enqueued for campaign {campaign_id}"


def status_command(
    campaign_id: int = campaign_id_argument(),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Show how far a campaign has come: case states, rates, answers, channels."""
    status = load_status(get_engine(), campaign_id)
    if as_json:
        out.print(json.dumps(status, indent=2, ensure_ascii=False), soft_wrap=True)
    else:
        out.print(status_view(status))


def load_status(engine: Engine, campaign_id: int, *, compliance: bool = True) -> dict[str, Any]:
    """The status JSON; live progress views poll it without compliance (it reads sends)."""
    try:
        with Session(engine) as session:
            return campaign_status(session, campaign_id, compliance=compliance)
    except NotFound as error:
        fail(str(error), code=1)
    except SQLAlchemyError as error:
        fail(database_hint(error))


def status_view(status: dict[str, Any]) -> Group:
    """A readable summary: header line, then states, answers and channels side by side."""
    rates = status["rates"]
    title = (
        f"[bold]Campaign {status['campaign_id']}[/] {status['name']} — {status['state']}, "
        f"{status['cases']} case(s); completion [bold]{rates['completion']:.1%}[/], "
        f"reach {rates['reach']:.1%}, response {rates['response']:.1%}"
    )
    states = _table("Case state", "Cases", status["states"].items())
    answers = _table("Answer", "Count", status["responses"].items())
    channels = Table("Channel", "Sent", "Delivered", "Failed", "Cost", title="Channels")
    for name, row in status["channels"].items():
        cost = cost_with_unit(name, status["cost_units"].get(name, 0.0))
        channels.add_row(name, str(row["sent"]), str(row["delivered"]), str(row["failed"]), cost)
    refusals = _table("Refusal reason", "Cases", (status.get("refusals") or {}).items())
    grid = Table.grid(padding=(0, 3))
    grid.add_row(states, answers, refusals)
    parts: list[Any] = [title]
    if status.get("purpose"):
        # Text, not markup: the purpose is the campaign file's free text.
        parts.append(Text(f"Purpose: {status['purpose']}"))
    return Group(*parts, grid, channels, *remedy_lines(status), money_line(status["cost"]))


def money_line(cost: dict[str, Any]) -> str:
    """``Spent 12.40 USD (budget 100.00: 12.4%); per completed case 0.52``."""
    currency = cost["currency"]
    line = f"Spent [bold]{cost['total']:.2f} {currency}[/]"
    if cost.get("budget"):
        line += f" (budget {cost['budget']:.2f}: {cost['budget_used']:.1%})"
    if cost.get("per_completed_case") is not None:
        line += f"; per completed case {cost['per_completed_case']:.4f}"
    return line


def cost_with_unit(channel: str, amount: float) -> str:
    """``12 segments``, ``1 email``, ``4.5 min``: what the provider bills, with its unit
    (the channel's ``cost_unit``)."""
    try:
        one = spec_for(channel).cost_unit
    except ValueError:
        one = "unit"
    many = one if one == "min" else f"{one}s"  # an abbreviation takes no plural
    return f"{amount:g} {one if amount == 1 else many}"


def _table(name: str, value: str, rows: Any) -> Table:
    table = Table(name, value)
    for key, count in rows:
        table.add_row(key, str(count))
    return table


def follow_campaign(engine: Engine, campaign_id: int, interval: float = 2.0) -> dict[str, Any]:
    """Redraw the status until no case is left on the escalation ladder (or Ctrl-C)."""
    status = load_status(engine, campaign_id, compliance=False)
    with Live(status_view(status), console=err, refresh_per_second=2) as live:
        while not settled(status):
            time.sleep(interval)
            status = load_status(engine, campaign_id, compliance=False)
            live.update(status_view(status))
    return status


LADDER_ORDER = ("pending", "notifying", "awaiting_response")  # LADDER_STATES, in order
OPEN_REASONS = {
    "query_open": "question(s) wait for an agent's answer (the dashboard's inbox)",
    "agreed": "agreement(s) wait for the remedy to be confirmed",
}


def settle_note(status: dict[str, Any]) -> str:
    """One sentence: is the campaign finished, and if cases are still open, why."""
    states = status["states"]
    if status["state"] in ("closed", "cancelled"):
        return f"Finished: the campaign is {status['state']}."
    on_ladder = {state: states[state] for state in LADDER_ORDER if states.get(state)}
    if on_ladder:
        detail = ", ".join(f"{state} {count}" for state, count in on_ladder.items())
        return (
            f"Not finished: {sum(on_ladder.values())} case(s) are still on the escalation "
            f"ladder ({detail}); run the same command again to carry on."
        )
    waiting = [f"{states[s]} {why}" for s, why in OPEN_REASONS.items() if states.get(s)]
    if not waiting:
        return "Finished: every case has reached its outcome."
    return (
        "Finished sending: no case is left on the escalation ladder. Still open: "
        + "; ".join(waiting)
        + f". The campaign stays {status['state']} until its deadline, {_when(status)}."
    )


def _when(status: dict[str, Any]) -> str:
    try:
        moment = datetime.fromisoformat(str(status["deadline"]))
    except ValueError:
        return str(status["deadline"])
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def settled(status: dict[str, Any]) -> bool:
    if status["state"] in ("cancelled", "closed"):
        return True
    return not any(status["states"][state.value] for state in LADDER_STATES)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [repr(error)])[0]


def register(app: typer.Typer) -> None:
    app.command("launch")(launch_command)
    app.command("status")(status_command)
