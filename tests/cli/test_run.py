"""`recall run` as a user runs their own campaign: one process, no Redis, the sandbox as
the providers; Ctrl-C mid-campaign, then the same command finishes it, sending nothing
twice for a step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli.demo import generate_users

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("run_driver.py")
LADDER = ("pending", "notifying", "awaiting_response")
CAMPAIGN = """\
name: "Run test: kettle recall"
reason: product_quality
description: KT-200 kettles from batch 7 can overheat.
remedy: Stop using the kettle; we replace it for free.
deadline: 2d
quiet_hours: null
escalation:
  - {channel: sms, wait: 3s}
  - {channel: email, wait: 3s}
tiers:  # one ladder for everyone (tier 1 would run it twice): one notice per channel
  1: [{channel: sms, wait: 3s}, {channel: email, wait: 3s}]
templates:
  en:
    sms: >-
      {# states: reason, scope, remedy #}NOTICE kettle recall: Reply YES or NO by
      {{ deadline }}.
    email_subject: "NOTICE {{ campaign }}"
  zh-CN:
    sms: >-
      {# states: reason, scope, remedy #}NOTICE 水壶召回：请于{{ deadline }}前回复“同意”或“不同意”。
    email_subject: "NOTICE {{ campaign }}"
"""


def isolated() -> list[str]:
    """``unshare -n`` when this machine allows it: a network with loopback only."""
    unshare = shutil.which("unshare")
    if unshare and shutil.which("ip"):
        probe = subprocess.run([unshare, "-n", "true"], capture_output=True)
        if probe.returncode == 0:
            return [unshare, "-n"]
    return []


def drive(tmp_path: Path, users: int) -> dict[str, Any]:
    generate_users(tmp_path / "users.csv", users)
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN, encoding="utf-8")
    prefix = isolated()
    env = {**os.environ, "RUN_DRIVER_LOOPBACK_UP": "1" if prefix else ""}
    args = [str(tmp_path), str(tmp_path / "users.csv"), str(tmp_path / "campaign.yaml")]
    done = subprocess.run(
        [*prefix, sys.executable, str(DRIVER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads((tmp_path / "result.json").read_text())
    result["isolated"] = bool(prefix)
    return result


def notices(messages: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """(channel, recipient) of every notice the providers received."""
    sent = Counter()
    for message in messages:
        if message.get("direction") == "inbound":
            continue
        text = message.get("subject") or message.get("body") or ""
        if text.startswith("NOTICE"):
            sent[(message["channel"], message["to"])] += 1
    return sent


def test_run_is_interrupted_then_resumed_to_the_end_without_redis(tmp_path: Path) -> None:
    result = drive(tmp_path, 300)
    first, after_first, second = result["first"], result["after_first"], result["second"]
    assert first["code"] == 130, first["stderr"]
    assert "Stopped. Left:" in first["stderr"]
    assert "the same command resumes" in first["stderr"]
    # It was stopped mid-campaign: cases were still on the escalation ladder.
    assert isinstance(after_first, dict), after_first
    assert after_first["cases"] == 300
    assert sum(after_first["states"][state] for state in LADDER) > 0
    # The second run resumed that campaign and settled it.
    assert second["code"] == 0, second["stderr"][-3000:]
    assert "Resuming campaign 1" in second["stderr"]
    assert "no case is left on the escalation ladder" in second["stdout"] or (
        "Finished" in second["stdout"]
    )
    db = tmp_path / "run.db"
    status = subprocess.run(
        [sys.executable, "-m", "cli.main", "status", "1", "--json"],
        env={**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{db}"},
        capture_output=True,
        text=True,
    )
    final = json.loads(status.stdout)
    assert final["cases"] == 300 and not any(final["states"][state] for state in LADDER)
    # Nobody was sent a step's notice twice, across the interruption.
    sent = notices(result["messages"])
    assert sent and max(sent.values()) == 1, [key for key, n in sent.items() if n > 1][:5]
    assert {channel for channel, _ in sent} == {"sms", "email"}
    if result["isolated"]:
        assert result["redis_reachable"] is False  # there was no Redis to be had
