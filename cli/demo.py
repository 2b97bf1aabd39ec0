"""`recall demo`: the whole pipeline in one process — an embedded SQLite database, the
in-process broker with worker threads, the scheduler, the web app and the provider sandbox —
on generated users and a campaign whose escalation waits are seconds.

It prints the dashboard's address, redraws the campaign's progress until no case is left on
the escalation ladder, and ends with the summary. Ctrl-C stops every part cleanly and says
what was left (the database keeps it; nothing is lost).
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.live import Live
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cli._console import err, fail, out
from cli.launch import load_status, settled, status_view
from pipeline.campaign_file import load_campaign_file
from pipeline.db import make_engine
from pipeline.launch import launch
from pipeline.migrations import upgrade
from pipeline.models import Case
from pipeline.settings import Settings, get_settings
from pipeline.states import LADDER_STATES

if TYPE_CHECKING:
    from schedules.embedded import EmbeddedStack

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO_CAMPAIGN = EXAMPLES / "demo_campaign.yaml"
FIRST = ["Alice", "Bob", "Chloe", "Daniel", "Emma", "Felix", "Grace", "Henry", "Isla", "Jack"]
LAST = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Wright"]
ZH_NAMES = ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵敏", "黄磊"]
# (locale, time zone, phone pattern): every generated number is valid for phonenumbers.
PROFILES = [
    ("en-US", "America/New_York", "+1212{:07d}"),
    ("en-US", "America/Los_Angeles", "+1415{:07d}"),
    ("en-GB", "Europe/London", "+447911{:06d}"),
    ("zh-CN", "Asia/Shanghai", "+86138{:08d}"),
    ("zh-CN", "Asia/Shanghai", "+86139{:08d}"),
]


def generate_users(path: Path, count: int, *, seed: int = 7) -> Path:
    """A USERS.csv of ``count`` plausible, valid users (deterministic for a seed)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["external_id", "name", "phone", "email", "locale", "timezone", "risk_tier"]
        )
        for i in range(count):
            writer.writerow(_user(rng, i))
    return path


def _user(rng: random.Random, i: int) -> list[str]:
    locale, zone, phone_pattern = PROFILES[i % len(PROFILES)]
    number = 2_000_000 + i if phone_pattern.startswith("+1") else 100_000 + i
    name = rng.choice(ZH_NAMES) if locale == "zh-CN" else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    has_phone, has_email = rng.random() < 0.9, rng.random() < 0.8
    phone = phone_pattern.format(number) if has_phone or not has_email else ""
    email = f"user{i}@example.com" if has_email else ""
    tier = rng.choices(["1", "2", "3"], weights=[1, 6, 3])[0]
    return [f"DEMO-{i:07d}", name, phone, email, locale, zone, tier]


def demo_command(
    users: int = typer.Option(2000, "--users", min=1, help="How many users to generate."),
    database: Path = typer.Option(
        Path("recall-demo.db"), "--database", help="The SQLite file (recreated on each run)."
    ),
    threads: int = typer.Option(8, "--threads", min=1, help="Worker threads."),
    timeout: float = typer.Option(
        900.0, "--timeout", min=1, help="Give up waiting for the campaign after this many seconds."
    ),
) -> None:
    """Run the whole pipeline in one process on generated users and watch the recall complete."""
    settings = get_settings()
    if settings.broker_url:
        fail("the demo runs its own in-process broker: unset RECALL_BROKER_URL and run it again")
    if not DEMO_CAMPAIGN.exists():
        fail(f"the demo campaign is missing: {DEMO_CAMPAIGN}")
    engine = _fresh_database(settings, database)
    _tune_for_demo(settings)
    from schedules.embedded import log_to_file, start_embedded_stack  # after the settings above

    log_to_file(f"{database}.log")
    stack = start_embedded_stack(settings, worker_threads=threads)
    status: dict[str, Any] | None = None
    try:
        campaign_id = _launch(engine, users)
        _announce(stack.web_url, settings, campaign_id, users, f"{database}.log")
        status = _follow(engine, campaign_id, timeout, stack)
    except KeyboardInterrupt:
        err.print("\n[yellow]Stopping…[/]")
        stack.close()
        _report_left(engine, stack.queued_messages(), database)
        raise typer.Exit(130) from None
    stack.close()
    out.print(status_view(status))
    if not settled(status):
        fail(f"the campaign did not settle within {timeout:g} s", code=1)
    engine.dispose()


def _fresh_database(settings: Settings, database: Path) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database.resolve()}"
    settings.database_url = url
    upgrade(url)
    return make_engine(url)


def _tune_for_demo(settings: Settings) -> None:
    # Seconds-long waits need a scan every second and a curve point every few seconds.
    settings.due_scan_interval = 1.0
    settings.check_interval = 5.0
    settings.snapshot_interval = 5.0
    # The demo texts its own sandbox, not a long code: Twilio's 1 segment/s would turn a
    # two-minute demo into an hour.
    settings.sms_per_second = settings.sms_per_second or 30


def _launch(engine: Engine, users: int) -> int:
    from actors.campaign import fan_out

    spec = load_campaign_file(DEMO_CAMPAIGN)
    with tempfile.TemporaryDirectory() as scratch:
        users_file = generate_users(Path(scratch) / "users.csv", users)
        report = launch(engine, spec, users_file)
    fan_out.send(report.campaign_id)
    return report.campaign_id


def _announce(
    web_url: str, settings: Settings, campaign_id: int, users: int, log_path: str
) -> None:
    login = settings.dashboard_users.split(",")[0].split(":")[0]
    err.print(
        f"[bold]recall demo[/]: campaign {campaign_id}, {users} users\n"
        f"  dashboard: [link]{web_url}/dashboard[/link]  (log in as {login!r}; see "
        f"RECALL_DASHBOARD_USERS)\n  logs: {log_path}\n  Ctrl-C stops everything cleanly."
    )


def _follow(
    engine: Engine, campaign_id: int, timeout: float, stack: EmbeddedStack
) -> dict[str, Any]:
    """Redraw the status until no case is left on the ladder and every answer in flight has
    been recorded (or ``timeout`` passes)."""
    status = load_status(engine, campaign_id)
    deadline = time.monotonic() + timeout
    with Live(status_view(status), console=err, refresh_per_second=2, transient=True) as live:
        while not (settled(status) and not stack.busy()) and time.monotonic() < deadline:
            time.sleep(1.0)
            status = load_status(engine, campaign_id)
            live.update(status_view(status))
    return status


def _report_left(engine: Engine, queued: int, database: Path) -> None:
    with Session(engine) as session:
        counts = dict(session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    on_ladder = {state.value: counts.get(state.value, 0) for state in LADDER_STATES}
    open_queries = counts.get("query_open", 0)
    detail = ", ".join(f"{name} {count}" for name, count in on_ladder.items() if count)
    err.print(
        f"Stopped. Left: {sum(on_ladder.values())} case(s) still on the escalation ladder"
        f"{f' ({detail})' if detail else ''}, {open_queries} open quer(y/ies), "
        f"{queued} message(s) not yet handled.\n"
        f"Everything is in {database.resolve()}; `recall status` reads it "
        f"(RECALL_DATABASE_URL=sqlite:///{database.resolve()})."
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
