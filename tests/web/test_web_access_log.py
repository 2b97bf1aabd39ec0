"""``recall web`` logs as structured, masked lines: logins, and with ``--access-log`` every
request, a response link's token never among them (issue 13)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.processes import stop
from tests.web.support import _wait_healthy, free_port
from web.access_log import loggable_path

RECALL = str(Path(sys.executable).with_name("recall"))
TOKEN = "eyJjIjoxLCJhIjoiYWdyZWUifQ.SECRETSIGNATURE123"


def test_link_tokens_are_never_written_down() -> None:
    assert loggable_path(f"/r/{TOKEN}") == "/r/<token>"
    assert loggable_path(f"/r/{TOKEN}/more") == "/r/<token>/more"
    assert loggable_path("/webhooks/twilio/sms") == "/webhooks/twilio/sms"


def test_recall_web_logs_requests_and_logins_masked(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RECALL_DATABASE_URL": sqlite_url, "RECALL_PUBLIC_URL": base}
    env.pop("RECALL_BROKER_URL", None)
    subprocess.run([RECALL, "db", "upgrade"], env=env, check=True, timeout=60)
    log_path = tmp_path / "web.log"
    with log_path.open("w") as log_file:
        command = [RECALL, "web", "--port", str(port), "--access-log"]
        process = subprocess.Popen(command, env=env, stderr=log_file, stdout=log_file)
        try:
            _wait_healthy(base, process)  # type: ignore[arg-type]
            assert httpx.get(f"{base}/r/{TOKEN}").status_code == 400
            with httpx.Client(base_url=base) as client:
                page = client.get("/login")
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                assert csrf
                data = {"username": "admin", "password": "nope", "csrf_token": csrf.group(1)}
                assert client.post("/login", data=data).status_code == 401
        finally:
            stop(process, timeout=15)
    text = log_path.read_text()
    assert "Traceback" not in text and "Logging error" not in text
    assert TOKEN not in text and "SECRETSIGNATURE" not in text
    assert re.search(r"http\.request method=GET path=/r/<token> status=400 ms=[\d.]+", text)
    assert "auth.login_failed user=admin" in text
