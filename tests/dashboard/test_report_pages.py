"""The campaign page's cost and compliance panel, and the final report to download: behind
the login, masked, in every format, and a located 404 for what does not exist."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.settings import get_settings

pytestmark = pytest.mark.postgres
Login = Callable[..., str]


def test_report_and_measures_need_a_login(client: TestClient, seeded: Any) -> None:
    for tail in ("measures", "report.html", "report.csv", "report.json"):
        path = f"/dashboard/campaigns/{seeded.campaign_id}/{tail}"
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path


def test_measures_show_cost_and_compliance(
    client: TestClient, seeded: Any, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "price_sms_segment", 0.25)
    monkeypatch.setattr(get_settings(), "currency", "EUR")
    login(client)
    page = client.get(f"/dashboard/campaigns/{seeded.campaign_id}").text
    assert f'hx-get="/dashboard/campaigns/{seeded.campaign_id}/measures"' in page
    assert f'href="/dashboard/campaigns/{seeded.campaign_id}/report.html"' in page
    panel = client.get(f"/dashboard/campaigns/{seeded.campaign_id}/measures").text
    sms = len(seeded.phones)  # one 1-segment SMS per case
    assert f'id="cost-total">{0.25 * sms:.2f} EUR<' in panel
    assert 'data-figure="sends_after_opt_out">0<' in panel
    assert 'data-figure="audit">never verified<' in panel
    for secret in seeded.secrets:
        assert secret not in panel


def test_the_final_report_downloads_in_every_format(
    client: TestClient, seeded: Any, login: Login
) -> None:
    login(client)
    base = f"/dashboard/campaigns/{seeded.campaign_id}/report"
    html = client.get(f"{base}.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "<h2>The four measures</h2>" in html.text and "<svg" in html.text
    table = client.get(f"{base}.csv")
    assert table.headers["content-disposition"].startswith("attachment")
    rows = [line for line in table.text.splitlines() if not line.startswith("#")]
    assert len(list(csv.DictReader(io.StringIO("\n".join(rows))))) == len(seeded.phones)
    figures = json.loads(client.get(f"{base}.json").text)
    assert figures["campaign"]["id"] == seeded.campaign_id and "cost" in figures["summary"]
    for answer in (html, table):
        for secret in seeded.secrets:
            assert secret not in answer.text
    assert client.get(f"{base}.pdf").status_code == 404
    missing = client.get("/dashboard/campaigns/999999/report.html")
    assert missing.status_code == 404 and "999999" in missing.text
