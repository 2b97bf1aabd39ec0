"""`recall sandbox` as a process: it starts, says where it is, and behaves like Twilio."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sendgrid.helpers.eventwebhook import EventWebhook

from channels.registry import channel_for
from pipeline.models import Case
from pipeline.notices.outbound import notice_message
from pipeline.settings import get_settings
from tests.channels.channels_testkit import Receiver

MakeCase = Callable[..., Case]
RECALL = str(Path(sys.executable).parent / "recall")


@pytest.fixture
def sandbox_process(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    key_out = tmp_path / "sendgrid.pub"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RECALL_TWILIO_AUTH_TOKEN": "cli-token"}
    command = [RECALL, "sandbox", "--port", "0", "--immediate"]
    command += ["--public-url", receiver.url, "--public-key-out", str(key_out), "--no-users"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"on (http://[\d.]+:\d+)", first)
        assert match, first
        url = match.group(1)
        monkeypatch.setenv("RECALL_TWILIO_API_BASE", url)
        monkeypatch.setenv("RECALL_SENDGRID_API_BASE", url)
        monkeypatch.setenv("RECALL_PUBLIC_URL", receiver.url)
        monkeypatch.setenv("RECALL_TWILIO_AUTH_TOKEN", "cli-token")
        get_settings.cache_clear()
        yield url, key_out
    finally:
        process.terminate()
        process.wait(timeout=10)
        get_settings.cache_clear()


def wait_idle(url: str) -> None:
    deadline = time.monotonic() + 20
    while httpx.get(f"{url}/_sandbox/pending").json()["pending"]:
        assert time.monotonic() < deadline, "sandbox stayed busy"
        time.sleep(0.05)


def test_sandbox_process_serves_the_real_clients(
    sandbox_process: tuple[str, Path], receiver: Receiver, make_case: MakeCase
) -> None:
    url, key_out = sandbox_process
    case = make_case(phone="+15551237000", email="eve@example.com")
    assert channel_for("sms").send(notice_message(case, "sms", 0)).ok
    assert channel_for("email").send(notice_message(case, "email", 1)).ok
    wait_idle(url)

    statuses = [r.form["MessageStatus"] for r in receiver.at("/webhooks/twilio/status")]
    assert statuses[-1] == "delivered"
    (event_post, *_) = receiver.at("/webhooks/sendgrid/events")
    verifier = EventWebhook(key_out.read_text().strip())
    assert verifier.verify_signature(
        event_post.body.decode(),
        event_post.headers["X-Twilio-Email-Event-Webhook-Signature"],
        event_post.headers["X-Twilio-Email-Event-Webhook-Timestamp"],
    )
    got = httpx.get(f"{url}/_sandbox/messages", params={"to": "+15551237000"}).json()
    assert len(got) == 1 and got[0]["channel"] == "sms"


def test_runtime_config_changes_and_rejects_nonsense(sandbox_process: tuple[str, Path]) -> None:
    url, _ = sandbox_process
    changed = httpx.post(f"{url}/_sandbox/config", json={"faults": {"rate_429": 0.5}}).json()
    assert changed["faults"]["rate_429"] == 0.5
    bad = httpx.post(f"{url}/_sandbox/config", json={"faults": {"rate_429": 7}})
    assert bad.status_code == 422


def test_bad_flag_exits_with_a_reason() -> None:
    result = subprocess.run(
        [RECALL, "sandbox", "--reply-delay", "3:1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "reply_delay" in result.stderr
