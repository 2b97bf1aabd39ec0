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
from pathlib import Path

import typer
from sqlalchemy import Engine

from cli._console import err, fail
from cli._embedded import RunPlan, run_to_end, tune_for_one_process
from pipeline.campaigns.file import load_campaign_file
from pipeline.campaigns.launch import launch
from pipeline.db import make_engine
from pipeline.migrations import upgrade
from pipeline.settings import Settings, get_settings

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
    threads: int = typer.Option(8, "--threads", min=1, help="How many worker threads to run."),
    timeout: float = typer.Option(
        900.0, "--timeout", min=1, help="Give up waiting for the campaign after this many seconds."
    ),
) -> None:
    """Run the whole pipeline in one process on generated users and watch the recall
    complete: `recall run` on the demo campaign, with the provider sandbox."""
    settings = get_settings()
    if settings.broker_url:
        err.print("note: the demo runs its own in-process broker; RECALL_BROKER_URL is ignored")
    if not DEMO_CAMPAIGN.exists():
        fail(f"the demo campaign is missing: {DEMO_CAMPAIGN}")
    _fresh_database(settings, database)
    tune_for_one_process(settings)
    # The demo always plays the providers itself, whatever credentials are configured.
    settings.twilio_auth_token = Settings.model_fields["twilio_auth_token"].default
    settings.sendgrid_api_key = Settings.model_fields["sendgrid_api_key"].default
    settings.twilio_api_base = settings.sendgrid_api_base = None
    engine = make_engine(settings.database_url)
    with tempfile.TemporaryDirectory() as scratch:
        users_file = generate_users(Path(scratch) / "users.csv", users)
        plan = RunPlan(
            label=f"recall demo ({users} users)",
            database=str(database.resolve()),
            log_path=f"{database}.log",
            port=0,
            threads=threads,
            timeout=timeout,
            start=lambda: _launch(engine, users_file),
            resumable=False,
        )
        run_to_end(settings, engine, plan)
    engine.dispose()


def _fresh_database(settings: Settings, database: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database.resolve()}"
    settings.database_url = url
    upgrade(url)


def _launch(engine: Engine, users_file: Path) -> int:
    from actors.campaign import fan_out

    report = launch(engine, load_campaign_file(DEMO_CAMPAIGN), users_file)
    fan_out.send(report.campaign_id)
    return report.campaign_id


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
