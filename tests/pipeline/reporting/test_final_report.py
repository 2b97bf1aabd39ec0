"""The final report: the figures as JSON, the HTML with its curves, measures, cost and
compliance, and the SVG curves drawn from the snapshots."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.models import Campaign, MetricSnapshot
from pipeline.reporting.curves import HEIGHT, PAD, WIDTH, line_chart, scaled
from pipeline.reporting.metrics import campaign_status
from pipeline.reporting.report import render_report
from tests import sched_data as data

PHONE = "+15557654321"


def _campaign(session: Session) -> int:
    campaign = data.campaign(session, name="Heater recall")
    campaign.launched_at = utcnow() - timedelta(hours=2)
    campaign.spec = {
        **(campaign.spec or {}),
        "purpose": "Replace overheating heaters",
        "budget": 50,
    }
    person = data.recipient(session, phone=PHONE)
    done = data.case(session, campaign, person, state="completed", last_response="agree",
                     answered_channel="sms", answered_step=0)  # fmt: skip
    data.attempt(session, done, "sms", campaign.deadline, step=0)
    data.case(session, campaign, state="unreachable")
    for minutes, completion, response in ((90, 0.0, 0.0), (60, 0.25, 0.5), (30, 0.5, 0.5)):
        at = utcnow() - timedelta(minutes=minutes)
        rates = {"rates": {"response": response}}
        session.add(MetricSnapshot(campaign_id=campaign.id, at=at, completion=completion,
                                   counts=rates))  # fmt: skip
    session.commit()
    return campaign.id


def test_json_carries_the_four_measures_and_the_curves(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        campaign_id = _campaign(session)
        report = json.loads(render_report(session, campaign_id, "json"))
        status = campaign_status(session, campaign_id)
    assert report["campaign"]["purpose"] == "Replace overheating heaters"
    summary = report["summary"]
    assert summary["rates"] == status["rates"] and summary["cost"] == status["cost"]
    assert summary["compliance"]["sends_after_opt_out"] == 0
    assert [stage["stage"] for stage in report["funnel"]] == [
        "in scope", "reached", "answered", "agreed", "completed"
    ]  # fmt: skip
    completion = [value for _, value in report["curves"]["completion"]]
    answers = [value for _, value in report["curves"]["answers"]]
    # The snapshots, then the figure now: the curve ends at the reported rate.
    assert completion == [0.0, 0.25, 0.5, status["rates"]["completion"]]
    assert answers == [0.0, 0.5, 0.5, status["rates"]["response"]]
    assert PHONE not in json.dumps(report)


def test_html_shows_measures_curves_cost_and_compliance(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        campaign_id = _campaign(session)
        html = render_report(session, campaign_id, "html")
        cost = campaign_status(session, campaign_id)["cost"]
    assert "Replace overheating heaters" in html
    for section in ("The four measures", "Funnel", "Per channel", "Per escalation step",
                    "What users said", "Cost", "Compliance"):  # fmt: skip
        assert f"<h2>{section}</h2>" in html
    assert html.count('<polyline class="series"') == 2
    assert f"{cost['total']:.2f} {cost['currency']}" in html
    assert "Sends after an opt-out" in html and "never verified" in html
    assert PHONE not in html


def test_status_keys_of_other_slices_are_rendered_when_present(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        campaign_id = _campaign(session)
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        stored = campaign_status(session, campaign_id)
        stored["refusals"] = {"already_replaced": 3}
        spread = {"5": 2, "4": 1, "3": 1}
        stored["satisfaction"] = {"answers": 4, "mean": 4.25, "distribution": spread, "rate": 0.5}
        campaign.final_report = stored
        session.commit()
        html = render_report(session, campaign_id, "html")
    assert "already_replaced" in html and "4.25 / 5" in html


@given(
    st.lists(
        st.tuples(st.floats(0, 1e9), st.floats(-1, 2, allow_nan=False)), min_size=1, max_size=30
    ).map(sorted)
)
def test_curve_points_stay_inside_the_chart(series: list[tuple[float, float]]) -> None:
    for x, y in scaled(series):
        assert PAD <= x <= WIDTH - PAD and PAD <= y <= HEIGHT - PAD
    svg = str(line_chart({"a <b>": series}, "t & u"))
    assert svg.startswith("<svg") and "<b>" not in svg and "a &lt;b&gt;" in svg
    assert len(re.findall(r"points=\"([^\"]*)\"", svg)[0].split()) == len(series)
