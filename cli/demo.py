"""`recall demo`: an embedded SQLite database, generated users, the example campaign.

This first version launches the campaign and prints its status; later issues grow it into
the whole pipeline in one process (broker, workers, scheduler, web, provider sandbox).
"""

from __future__ import annotations

import csv
import random
import tempfile
from pathlib import Path

import typer

from cli._console import err, fail, out
from cli.launch import load_status, status_view
from pipeline.campaign_file import load_campaign_file
from pipeline.db import make_engine
from pipeline.launch import launch
from pipeline.migrations import upgrade

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
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
    users: int = typer.Option(200, "--users", min=1, help="How many users to generate."),
    database: Path = typer.Option(
        Path("recall-demo.db"), "--database", help="The SQLite file (recreated on each run)."
    ),
) -> None:
    """Run recall on an embedded SQLite database with generated users."""
    campaign_file = EXAMPLES / "campaign.yaml"
    if not campaign_file.exists():
        fail(f"the example campaign is missing: {campaign_file}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database.resolve()}"
    upgrade(url)
    engine = make_engine(url)
    spec = load_campaign_file(campaign_file)
    with tempfile.TemporaryDirectory() as scratch:
        users_file = generate_users(Path(scratch) / "users.csv", users)
        report = launch(engine, spec, users_file)
    err.print(f"database: {database.resolve()}")
    out.print(status_view(load_status(engine, report.campaign_id)))
    engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
