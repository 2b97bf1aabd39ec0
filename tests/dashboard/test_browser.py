"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, against
`recall web` and `recall worker` processes on PostgreSQL and Redis, with the provider
sandbox playing Twilio. Screenshots go to .ci/output/screenshots/ (CI artifacts)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from pipeline.models import Case
from tests.conftest import unavailable

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / ".ci" / "output" / "screenshots"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def recall_command(*args: str) -> list[str]:
    """The installed `recall` entry point of this interpreter's environment."""
    return [str(Path(sys.executable).parent / "recall"), *args]


@dataclass
class Live:
    url: str
    sandbox_url: str
    engine: Engine
    seeded: Any


@pytest.fixture
def live(
    web_env: Engine, seeded: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Live]:
    """`recall web` and `recall worker` on free ports, pointed at the sandbox."""
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", FileNotFoundError(f"{CHROMIUM} (make test installs it)"))
    for module in ("cli.web", "cli.worker", "actors.channel", "pipeline.control"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not on this branch yet")
    from channels.sandbox.config import SandboxConfig
    from channels.sandbox.runner import SandboxThread

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = SandboxThread(SandboxConfig(public_url=url, users=False, immediate=True)).start()
    env = {
        **os.environ,
        "RECALL_DATABASE_URL": os.environ["RECALL_DATABASE_URL"],
        "RECALL_BROKER_URL": redis_url,
        "RECALL_BROKER_NAMESPACE": f"browser{uuid.uuid4().hex[:8]}",
        "RECALL_PUBLIC_URL": url,
        "RECALL_TWILIO_API_BASE": sandbox.url,
        "RECALL_SENDGRID_API_BASE": sandbox.url,
        "dramatiq_prom_db": str(ROOT / ".ci" / "output" / "prom"),
        # This checkout's code, whatever the environment's editable install points at.
        "PYTHONPATH": str(ROOT),
    }
    web = subprocess.Popen(
        recall_command("web", "--port", str(port)), env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    worker = subprocess.Popen(
        recall_command("worker", "--processes", "1", "--threads", "2"),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until_up(url + "/login", web)
        yield Live(url, sandbox.url, web_env, seeded)
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        sandbox.stop()


@pytest.fixture
def page(live: Live) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # A phone-sized viewport: the pages must read on one.
        context = browser.new_context(viewport={"width": 412, "height": 915})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def log_in(page: Any, live: Live) -> None:
    page.goto(live.url + "/dashboard")
    assert "/login" in page.url
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("button[type=submit]")
    page.wait_for_url(live.url + "/dashboard")


def test_log_in_and_watch_the_completion_rate_move(page: Any, live: Live) -> None:
    page.goto(live.url + "/dashboard/campaigns")
    page.fill("input[name=password]", "wrong")
    page.fill("input[name=username]", "ann")
    page.click("button[type=submit]")
    assert "Wrong name or password" in page.inner_text("body")
    log_in(page, live)
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)
    page.goto(f"{live.url}/dashboard/campaigns/{live.seeded.campaign_id}")
    rate = page.locator("#completion-rate")
    assert rate.inner_text() == "33.3%"  # 2 of 6 seeded cases completed
    # Two waiting users agree (as the pipeline would record it); htmx polls the figure.
    with Session(live.engine) as session:
        session.execute(
            update(Case).where(Case.state == "awaiting_response").values(state="completed")
        )
        session.commit()
    page.wait_for_function(
        "document.querySelector('#completion-rate').innerText === '66.7%'", timeout=15_000
    )
    page.screenshot(path=str(SHOTS / "campaign-completion-moved.png"), full_page=True)


def test_answer_a_query_and_the_user_receives_it(page: Any, live: Live) -> None:
    log_in(page, live)
    page.goto(live.url + "/dashboard/inbox")
    page.click(f"tr[data-case='{live.seeded.query_case_id}'] a")
    assert live.seeded.phones[3] not in page.content()
    answer = "Any of our stores takes it back, Monday to Saturday."
    page.fill("#answer-text", answer)
    page.screenshot(path=str(SHOTS / "inbox-answer.png"), full_page=True)
    page.click("#send-answer")
    assert "Answer sent by sms" in page.inner_text("body")
    assert page.inner_text("#case-state") == "awaiting_response"
    received = wait_for_message(live, live.seeded.phones[3], answer)
    assert received["channel"] == "sms"
    page.reload()
    page.screenshot(path=str(SHOTS / "inbox-answered.png"), full_page=True)


def wait_for_message(live: Live, to: str, text: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = httpx.get(f"{live.sandbox_url}/_sandbox/messages", params={"to": to}).json()
        for message in messages:
            if text in str(message.get("body", "")):
                return dict(message)
        time.sleep(0.2)
    raise AssertionError(f"the sandbox user never got {text!r}")


def test_pause_a_campaign(page: Any, live: Live) -> None:
    log_in(page, live)
    page.goto(f"{live.url}/dashboard/campaigns/{live.seeded.campaign_id}")
    page.click("button[value=pause]")
    assert "Campaign paused." in page.inner_text("body")
    assert page.inner_text("#campaign-state") == "paused"
    page.screenshot(path=str(SHOTS / "campaign-paused.png"), full_page=True)
    api = httpx.get(
        f"{live.url}/api/campaigns/{live.seeded.campaign_id}",
        auth=("ann", "correct horse battery staple"),
    ).json()
    assert api["state"] == "paused"
