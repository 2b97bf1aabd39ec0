"""WhatsApp, the fourth channel, end to end: `recall run` (one process, SQLite) on a ladder
`whatsapp → sms`, the provider sandbox playing Twilio and the users. Users answer on
WhatsApp through the inbound SMS webhook (Twilio uses it for WhatsApp too); those who stay
silent get the SMS step. Every figure of `recall status` must equal what the sandbox saw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from channels.sandbox.config import SandboxConfig, Shares
from channels.sandbox.runner import SandboxThread
from tests.web.support import free_port

pytestmark = pytest.mark.slow

RECALL = [sys.executable, "-m", "cli.main"]
USERS = 24
CAMPAIGN = """\
name: "WhatsApp test: kettle recall"
reason: product_quality
description: KT-200 kettles from batch 7 can overheat.
remedy: Stop using the kettle; we replace it for free.
deadline: 2d
quiet_hours: null
escalation:
  - {channel: whatsapp, wait: 4s}
  - {channel: sms, wait: 4s}
tiers:  # one ladder for everyone: one notice per channel
  1: [{channel: whatsapp, wait: 4s}, {channel: sms, wait: 4s}]
templates:
  en:
    sms: >-
      {# states: reason, scope, remedy #}NOTICE kettle recall: Reply YES or NO by
      {{ deadline }}.
"""


def write_users(path: Path) -> None:
    """Every user with a mobile number the sandbox delivers to (no fault suffix)."""
    rows = ["external_id,name,phone,email,locale,timezone,risk_tier"]
    rows += [f"w{n},User {n},+1202555{n:04d},w{n}@example.com,en,UTC,2" for n in range(USERS)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def run_campaign(tmp_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    write_users(tmp_path / "users.csv")
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN, encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "RECALL_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "RECALL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "COLUMNS": "200",
    }
    env.pop("RECALL_BROKER_URL", None)
    # Half answer yes, half stay silent: both rungs of the ladder are used. A fixed seed
    # and immediate callbacks keep the run short; the counts are read, not predicted.
    config = SandboxConfig(
        public_url=env["RECALL_PUBLIC_URL"],
        immediate=True,
        shares=Shares(agree=1, refuse=0, query=0, stop=0, silence=1),
        seed=14,
    )
    with SandboxThread(config) as sandbox:
        env.update(sandbox.settings_env())
        run = [*RECALL, "run", str(tmp_path / "campaign.yaml"), "--users"]
        done = subprocess.run(
            [*run, str(tmp_path / "users.csv"), "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        sandbox.configure(users=False)
        messages = sandbox.state.snapshot(sandbox.state.messages)
    status = subprocess.run(
        [*RECALL, "status", "1", "--json"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(status.stdout), messages


def test_a_whatsapp_then_sms_campaign_counts_exactly_what_the_providers_saw(
    tmp_path: Path,
) -> None:
    status, messages = run_campaign(tmp_path)
    outbound = [m for m in messages if "direction" not in m and m["body"].startswith("NOTICE")]
    notices = Counter(m["channel"] for m in outbound)
    answered: dict[tuple[str, str], set[str]] = {}
    for m in messages:
        if m.get("direction") == "inbound":
            answered.setdefault((m["channel"], m["answer"]), set()).add(m["from"])
    by_whatsapp = len(answered.get(("whatsapp", "agree"), set()))
    by_sms = len(answered.get(("sms", "agree"), set()))

    # Every case got exactly one WhatsApp notice, to a whatsapp: address.
    assert notices["whatsapp"] == USERS
    whatsapp_to = [m["to"] for m in outbound if m["channel"] == "whatsapp"]
    assert len(set(whatsapp_to)) == USERS and all(to.startswith("whatsapp:+") for to in whatsapp_to)
    # Those who answered on WhatsApp were not texted; the silent ones got the SMS step.
    assert 0 < by_whatsapp < USERS
    assert set(answered) <= {("whatsapp", "agree"), ("sms", "agree")}
    assert notices["sms"] == USERS - by_whatsapp
    # recall's own figures match the providers' to the message.
    assert status["cases"] == USERS
    assert status["responses"]["agree"] == by_whatsapp + by_sms
    assert status["channels"]["whatsapp"] == {"sent": USERS, "delivered": USERS, "failed": 0}
    assert status["channels"]["sms"]["sent"] == USERS - by_whatsapp
    answered_on = {row["channel"]: row["answers"] for row in status["steps"]}
    assert answered_on.get("whatsapp", 0) == by_whatsapp
    assert answered_on.get("sms", 0) == by_sms
    settled = status["states"]["completed"] + status["states"]["unreachable"]
    assert settled == USERS
    assert status["states"]["unreachable"] == USERS - by_whatsapp - by_sms
