"""Made-up users and a realistic campaign for ``recall demo``: a few thousand people across
time zones, locales and risk tiers, and an escalation ladder whose waits are seconds, so the
whole recall plays out while you watch."""

from __future__ import annotations

import csv
import random
from pathlib import Path

# (time zone, locale, phone prefix, email domain, given names, family names)
REGIONS = [
    (
        "America/New_York",
        "en-US",
        "+1201555",
        "example.com",
        ["Alice", "Bob", "Carol"],
        ["Smith", "Jones"],
    ),
    ("America/Los_Angeles", "en-US", "+1415555", "example.com", ["Dave", "Erin"], ["Brown", "Lee"]),
    (
        "Europe/London",
        "en-GB",
        "+1646555",
        "example.co.uk",
        ["Fiona", "Gareth"],
        ["Evans", "Hughes"],
    ),
    ("Asia/Shanghai", "zh-CN", "+86139", "example.cn", ["伟", "娜", "静"], ["王", "李", "张"]),
    (
        "Australia/Sydney",
        "en-AU",
        "+1718555",
        "example.com.au",
        ["Harry", "Isla"],
        ["Taylor", "White"],
    ),
]
# Share of users per risk tier: a few high-risk households, most normal, some low.
TIER_WEIGHTS = {1: 0.15, 2: 0.70, 3: 0.15}


def generate_users(path: Path, count: int, seed: int = 7) -> None:
    """Write a valid USERS.csv with ``count`` people; some have only a phone or only an email."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["external_id", "name", "phone", "email", "locale", "timezone", "risk_tier"]
        )
        for n in range(count):
            zone, locale, prefix, domain, given, family = rng.choice(REGIONS)
            name = _name(rng, locale, given, family)
            phone = _phone(prefix, n)
            email = f"demo.user{n}@{domain}"
            shape = rng.random()
            if shape < 0.05:
                phone = ""
            elif shape < 0.10:
                email = ""
            tier = rng.choices(list(TIER_WEIGHTS), weights=list(TIER_WEIGHTS.values()))[0]
            writer.writerow([f"D-{n:06d}", name, phone, email, locale, zone, tier])


def _name(rng: random.Random, locale: str, given: list[str], family: list[str]) -> str:
    if locale.startswith("zh"):
        return rng.choice(family) + rng.choice(given)
    return f"{rng.choice(given)} {rng.choice(family)}"


def _phone(prefix: str, n: int) -> str:
    # Unique per user; every prefix above leaves enough digits for a valid number.
    digits = 14 - len(prefix) if prefix.startswith("+86") else 12 - len(prefix)
    return prefix + f"{n % 10**digits:0{digits}d}"


CAMPAIGN_YAML = """\
# The demo's campaign: a real-looking product recall whose waits are seconds, not days.
name: "Demo: PB-10 power bank overheating (batch 2026-09)"
reason: product_quality
description: >-
  PB-10 power banks from batch 2026-09 can overheat while charging.
remedy: >-
  Stop using the power bank. Reply YES and we send a prepaid return box and a replacement.
help_text: "Questions? Reply to this message or call 0800 000 000."
deadline: {deadline}
completion: on_agree
escalation:
  - {{channel: sms, wait: {wait}s}}
  - {{channel: email, wait: {wait}s}}
  - {{channel: voice, wait: {wait}s}}
tiers:
  1:
    escalation:
      - {{channel: sms, wait: {short}s}}
      - {{channel: voice, wait: {short}s}}
      - {{channel: email, wait: {short}s}}
      - {{channel: sms, wait: {short}s}}
  3:
    escalation:
      - {{channel: email, wait: {wait}s}}
      - {{channel: sms, wait: {wait}s}}
# Off so the demo plays out at any hour; a real campaign keeps the 21:00-08:00 default.
quiet_hours: null
query_sla: 2m
"""


def write_campaign(path: Path, *, wait_seconds: int = 8, deadline: str = "15m") -> None:
    """Write the demo's CAMPAIGN.yaml (tier 1 escalates twice as fast)."""
    text = CAMPAIGN_YAML.format(
        wait=wait_seconds, short=max(wait_seconds // 2, 1), deadline=deadline
    )
    path.write_text(text, encoding="utf-8")
