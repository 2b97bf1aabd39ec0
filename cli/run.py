"""`recall run CAMPAIGN.yaml --users USERS.csv`: a user's own campaign on the embedded
default, in one process and with no Redis — the database (SQLite unless
RECALL_DATABASE_URL says otherwise), the in-process broker with worker threads, the
scheduler and the web app (webhooks, response links, dashboard); the real Twilio and
SendGrid when their credentials are set, the provider sandbox with simulated users when not.

The campaign is known by its files: the fingerprint of both is stored with it at launch, so
running the same command again — after Ctrl-C, a crash or a reboot — resumes that campaign
from the database instead of launching another, and sends are idempotent per case and step,
so nobody is messaged twice for a step.
"""

from __future__ import annotations

import socket
from pathlib import Path

import typer
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cli._console import err, fail, fail_input, first_line
from cli._embedded import RunPlan, run_to_end, tune_for_one_process, web_port
from cli._guard import refuse_unsafe_settings
from cli.launch import _run_launch, check_users_file, load_spec
from pipeline.campaigns.launch import RUN_KEY, files_fingerprint
from pipeline.campaigns.yaml_input import read_text_file
from pipeline.db import make_engine
from pipeline.errors import InputError
from pipeline.models import Campaign
from pipeline.settings import Settings, get_settings


def find_campaign(engine: Engine, run_key: str) -> tuple[int, str] | None:
    """(id, state) of the campaign launched from files with this fingerprint, if any."""
    with Session(engine) as session:
        query = select(Campaign.id, Campaign.state, Campaign.spec).order_by(Campaign.id)
        rows = session.execute(query).all()
    found = (row for row in rows if (row.spec or {}).get(RUN_KEY) == run_key)
    return next(((row.id, row.state) for row in found), None)


def prepare_database(settings: Settings) -> tuple[Engine, str]:
    """Migrate RECALL_DATABASE_URL (it may be new) and connect; a broken URL ends here."""
    from pipeline.migrations import upgrade

    url = settings.database_url
    try:
        upgrade(url)
        engine = make_engine(url)
    except (SQLAlchemyError, ValueError, OSError) as error:
        fail(f"RECALL_DATABASE_URL: cannot use {_shown(url)}: {first_line(error)}")
    return engine, _shown(url)


def _check_port_free(port: int) -> None:
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            fail(
                f"--port: cannot listen on port {port}: {error.strerror} (is another recall "
                "running? stop it, or choose another port with --port)"
            )


def _new_sqlite_file(url: str) -> Path | None:
    """The SQLite file this run is about to create, if it does not exist yet."""
    try:
        parsed = make_url(url)
    except Exception:  # check_settings already refused an unparsable URL
        return None
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:":
        return None
    path = Path(database)
    return None if path.exists() else path


def _launch_or_resume(
    engine: Engine, campaign_file: Path, users: Path, run_key: str
) -> tuple[int, bool]:
    """(campaign id, resumed): the campaign these files launched before, or a new one —
    both files validated completely first; bad input ends the command here."""
    found = find_campaign(engine, run_key)
    if found is not None:
        campaign_id, state = found
        if state == "paused":
            fail(f"campaign {campaign_id} is paused: `recall resume {campaign_id}`, then run again")
        released = release_claims(engine)
        if released:
            err.print(f"{released} case(s) in flight when the last run stopped are taken up again.")
        return campaign_id, True
    spec = load_spec(campaign_file)
    report = _run_launch(engine, spec, users, False, run_key=run_key)
    return int(report.campaign_id), False


def release_claims(engine: Engine) -> int:
    """The previous run's in-process broker died with it: its claims are void."""
    from pipeline.cases.sweep import release_dead_claims
    from pipeline.clock import utcnow

    with Session(engine) as session, session.begin():
        return release_dead_claims(session, utcnow())


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as the user wrote it, minus nothing secret
        return "the configured database"


def log_path_for(url: str) -> str:
    """Beside an SQLite file (``recall.db.log``); ``recall-run.log`` for a server database."""
    try:
        database = make_url(url).database
    except Exception:  # any unparsable URL: the default name
        database = None
    if url.startswith("sqlite") and database and database != ":memory:":
        return f"{database}.log"
    return "recall-run.log"


def run_command(
    campaign_file: Path = typer.Argument(..., help="The CAMPAIGN.yaml file."),
    users: Path = typer.Option(..., "--users", help="The USERS.csv file."),
    port: int | None = typer.Option(
        None,
        "--port",
        min=0,
        max=65535,
        help="Port for the web app (default: the port of RECALL_PUBLIC_URL; 0 picks a free one).",
    ),
    threads: int = typer.Option(8, "--threads", min=1, help="How many worker threads to run."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=1, help="Stop waiting after this many seconds (default: never)."
    ),
) -> None:
    """Run your own campaign in one process, without Redis, until no case is left on the
    escalation ladder; running it again with the same files resumes it."""
    settings = get_settings()
    # The run serves the dashboard and webhooks itself: behind a public URL it is a server
    # like `recall web` and refuses the development defaults the same way.
    refuse_unsafe_settings(settings)
    if settings.broker_url:
        err.print("note: recall run uses its own in-process broker; RECALL_BROKER_URL is ignored")
    check_users_file(users)
    try:
        read_text_file(campaign_file, what="campaign file")
        run_key = files_fingerprint(campaign_file, users)
    except InputError as error:
        fail_input(error)
    tune_for_one_process(settings)
    port = web_port(settings, port)
    _check_port_free(port)  # a second run on the same files must not touch the first's work
    new_file = _new_sqlite_file(settings.database_url)
    engine, shown = prepare_database(settings)
    try:
        campaign_id, resumed = _launch_or_resume(engine, campaign_file, users, run_key)
    except BaseException:
        # Bad input leaves nothing behind, not even the database file this run created.
        engine.dispose()
        for suffix in ("", "-wal", "-shm") if new_file else ():
            Path(f"{new_file}{suffix}").unlink(missing_ok=True)
        raise

    def start() -> int:
        from actors.campaign import fan_out

        if resumed:
            err.print(f"Resuming campaign {campaign_id}: the same files were launched before.")
        fan_out.send(campaign_id)  # resumes from its cursor; due cases come from the sweep
        return campaign_id

    plan = RunPlan(
        label="recall run",
        database=shown,
        log_path=log_path_for(settings.database_url),
        port=port,
        threads=threads,
        timeout=timeout,
        start=start,
    )
    run_to_end(settings, engine, plan)
    engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
