"""The final report of a demo campaign, opened in a real browser (Debian's Chromium,
headless, through Playwright): `recall demo` runs the whole pipeline, `recall report`
writes the HTML, and the page must show the four measures, the curves and the compliance
table with no script and no network. Its screenshot is docs/report.png (the README's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "report.png"
RECALL = str(Path(sys.executable).parent / "recall")


def _recall(tmp_path: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    env.pop("RECALL_BROKER_URL", None)
    return subprocess.run(
        [RECALL, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp_path
    )


def test_the_final_report_of_a_demo_campaign_reads_in_a_browser(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", FileNotFoundError(CHROMIUM))
    from playwright.sync_api import expect, sync_playwright

    demo = _recall(
        tmp_path, "demo", "--users", "40", "--database", str(tmp_path / "d.db"),
        "--timeout", "240", timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-3000:]
    report = tmp_path / "report.html"
    written = _recall(tmp_path, "report", "1", "--format", "html", "--output", str(report),
                      timeout=60)  # fmt: skip
    assert written.returncode == 0, written.stderr
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        expect(page.locator("h1")).to_contain_text("Recall report")
        for measure in ("completion", "satisfaction", "cost", "compliance"):
            expect(page.locator(f"#measure-{measure}")).to_be_visible()
        expect(page.locator("#measure-cost")).to_contain_text("USD")
        expect(page.locator("#curves svg polyline.series")).to_have_count(2)
        expect(page.locator("table.compliance")).to_contain_text("Sends after an opt-out")
        expect(page.locator("table.funnel tr")).to_have_count(6)
        completion = page.inner_text("#measure-completion .value")
        assert completion.endswith("%") and float(completion[:-1]) > 0
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert requests == [report.as_uri()]  # the file needs nothing else: no script, no network
    assert SCREENSHOT.stat().st_size > 10_000
