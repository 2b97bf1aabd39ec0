"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, against
`recall web` and `recall worker` processes on PostgreSQL and Redis, with the provider
sandbox playing Twilio. Screenshots go to .ci/output/screenshots/ (CI artifacts)."""

from __future__ import annotations

import json
import os
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
from sqlalchemy import Engine

from tests.conftest import unavailable
from tests.processes import stop
from tests.web.support import free_port

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
    env: dict[str, str]


@pytest.fixture
def live(
    web_env: Engine, seeded: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Live]:
    """`recall web` and `recall worker` on free ports, pointed at the sandbox."""
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", FileNotFoundError(f"{CHROMIUM} (make test installs it)"))
    from channels.sandbox.config import SandboxConfig
    from channels.sandbox.runner import SandboxThread

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Simulated users agree to every notice, a few seconds after it arrives.
    config = SandboxConfig(
        public_url=url,
        callback_delay=(0.1, 0.3),
        reply_delay=(1.0, 6.0),
        shares={"agree": 1, "refuse": 0, "query": 0, "stop": 0, "silence": 0},
    )
    sandbox = SandboxThread(config).start()
    env = {
        **os.environ,
        "RECALL_DATABASE_URL": os.environ["RECALL_DATABASE_URL"],
        "RECALL_BROKER_URL": redis_url,
        "RECALL_BROKER_NAMESPACE": f"browser{uuid.uuid4().hex[:8]}",
        "RECALL_PUBLIC_URL": url,
        "RECALL_TWILIO_API_BASE": sandbox.url,
        "RECALL_SENDGRID_API_BASE": sandbox.url,
        "RECALL_SMS_SENDER_TYPE": "short_code",  # the sandbox is no long code
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
        yield Live(url, sandbox.url, web_env, seeded, env)
    finally:
        for process in (web, worker):
            stop(process)
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
        # The security policy must not break the pages: any violation the browser reports
        # (a blocked script, style or frame) fails the test.
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        yield page
        browser.close()
        assert violations == [], violations


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def log_in(page: Any, live: Live) -> None:
    page.goto(live.url + "/dashboard")
    assert "/login" in page.url
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("button[type=submit]")
    page.wait_for_url(live.url + "/dashboard")


CAMPAIGN_YAML = """
name: Browser test recall
reason: product_quality
description: Kettles may overheat.
remedy: Stop using it. Reply YES for a free replacement.
deadline: 7d
escalation:
  - {channel: sms, wait: 1h}
quiet_hours: null
"""


def launch_campaign(live: Live, tmp_path: Path, users: int) -> int:
    """`recall launch` as an operator runs it: the workers then text every user."""
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN_YAML)
    rows = ["external_id,name,phone,email,locale,timezone,risk_tier"]
    rows += [f"L-{i},User {i},+1415555{2000 + i},,en,UTC,2" for i in range(users)]
    (tmp_path / "users.csv").write_text("\n".join(rows) + "\n")
    done = subprocess.run(
        recall_command(
            "launch",
            str(tmp_path / "campaign.yaml"),
            "--users",
            str(tmp_path / "users.csv"),
            "--json",
        ),
        env=live.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(json.loads(done.stdout)["campaign_id"])


def test_log_in_and_watch_a_running_campaigns_completion_rate_move(
    page: Any, live: Live, tmp_path: Path
) -> None:
    page.goto(live.url + "/dashboard/campaigns")
    page.fill("input[name=password]", "wrong")
    page.fill("input[name=username]", "ann")
    page.click("button[type=submit]")
    assert "Wrong name or password" in page.inner_text("body")
    log_in(page, live)
    campaign_id = launch_campaign(live, tmp_path, users=12)
    page.goto(f"{live.url}/dashboard/campaigns/{campaign_id}")
    rate = page.locator("#completion-rate")
    first = float(rate.inner_text().rstrip("%"))
    assert first < 100
    page.screenshot(path=str(SHOTS / "campaign-running.png"), full_page=True)
    # No reload: htmx polls the figure while sandbox users answer YES one by one.
    # Locator expectations, not wait_for_function: the page's security policy forbids the
    # string evaluation that one needs (and that is the policy working).
    expect(rate).not_to_have_text(rate.inner_text(), timeout=45_000)
    assert float(rate.inner_text().rstrip("%")) > first
    expect(rate).to_have_text("100.0%", timeout=60_000)
    page.screenshot(path=str(SHOTS / "campaign-completed.png"), full_page=True)
    page.goto(live.url + "/dashboard")
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)
    # The worker process that did the work shows with its heartbeat and its throughput.
    page.goto(live.url + "/dashboard/queues")
    assert " pid " in page.inner_text("#worker-table")
    # Queues drained (their keys are gone) still show: the worker registered them.
    notify = page.locator("#queue-table tr[data-queue=default], #queue-table tr[data-queue]")
    assert notify.count() >= 1
    page.screenshot(path=str(SHOTS / "queues.png"), full_page=True)


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


def _plot_listeners(page: Any) -> int:
    """Live uPlot instances: each keeps one ``dppxchange`` listener on the window until it
    is destroyed, so a leaked plot shows here even once it is off the page."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    window = cdp.send("Runtime.evaluate", {"expression": "window"})["result"]["objectId"]
    listeners = cdp.send("DOMDebugger.getEventListeners", {"objectId": window})["listeners"]
    return sum(1 for listener in listeners if listener["type"] == "dppxchange")


def test_refreshing_the_campaign_page_keeps_the_chart_count_constant(
    page: Any, live: Live, tmp_path: Path
) -> None:
    log_in(page, live)
    campaign_id = launch_campaign(live, tmp_path, users=3)
    page.goto(f"{live.url}/dashboard/campaigns/{campaign_id}")
    page.wait_for_selector(".chart")
    charts = page.locator("[data-chart]").count()
    before = _plot_listeners(page)
    assert charts >= 1 and before >= charts
    for _ in range(40):  # what 2 minutes on an operations screen does (a swap every 3 s)
        page.evaluate(
            "url => new Promise(done => htmx.ajax('GET', url, "
            "{target: '#campaign-live', swap: 'innerHTML'}).then(done))",
            f"/dashboard/campaigns/{campaign_id}/live",
        )
    assert page.locator("[data-chart]").count() == charts
    assert _plot_listeners(page) == before, "a plot outlived its swap"
