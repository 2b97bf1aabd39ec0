"""``POST /api/campaigns/{id}/remedies`` and the case page's "remedy done": login and CSRF
required, all-or-nothing with per-item errors, idempotent, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.models import AuditEvent, Case, Recipient, RemedyConfirmation

PASSWORD = "correct horse battery staple"
AUTH = ("carol", PASSWORD)


def _url(seeded: Any) -> str:
    return f"/api/campaigns/{seeded.campaign_id}/remedies"


def _states(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        rows = session.execute(
            select(Recipient.external_id, Case.state).join(Case, Case.recipient_id == Recipient.id)
        )
        return {external_id: state for external_id, state in rows}


def _confirmations(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(RemedyConfirmation)) or 0)


def test_the_api_needs_a_login(client: TestClient, seeded: Any) -> None:
    answer = client.post(_url(seeded), json=[])
    assert answer.status_code == 401


def test_a_good_list_is_applied_once(client: TestClient, seeded: Any, web_env: Engine) -> None:
    items = [
        {"external_id": "u2", "completed_at": "2026-01-05T10:00:00Z", "note": "walk-in"},
        {"external_id": "u0", "completed_at": "2026-01-05"},
    ]
    answer = client.post(_url(seeded), json=items, auth=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "applied": 2, "completed": 0, "completed_without_agreement": 1, "recorded": 1,
        "already_confirmed": 0,
    }  # fmt: skip
    assert _states(web_env)["u2"] == "completed"
    again = client.post(_url(seeded), json=items, auth=AUTH)
    assert again.json()["already_confirmed"] == 2 and _confirmations(web_env) == 2
    with Session(web_env) as session:
        actors = set(session.scalars(select(AuditEvent.actor).where(
            AuditEvent.action == "remedy.confirmed")))  # fmt: skip
    assert actors == {"user:carol"}
    status = client.get(f"/api/campaigns/{seeded.campaign_id}", auth=AUTH).json()
    assert status["remedies"]["remedied_without_agreement"] == 1


def test_bad_items_refuse_the_whole_list(client: TestClient, seeded: Any, web_env: Engine) -> None:
    items = [
        {"external_id": "u4", "completed_at": "2026-01-05"},
        {"external_id": "nobody", "completed_at": "2026-01-05"},
        {"external_id": "u5", "completed_at": "tomorrow"},
        "u5",
        {"external_id": "u5", "completed_at": "2026-01-05", "colour": "red"},
        {"external_id": 5, "completed_at": "2026-01-05"},
    ]
    answer = client.post(_url(seeded), json=items, auth=AUTH)
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (2, "completed_at"), (3, None), (4, None), (5, "external_id"), (1, "external_id"),
    ]  # fmt: skip
    assert "no case for 'nobody'" in errors[-1]["reason"]
    assert _confirmations(web_env) == 0 and _states(web_env)["u4"] == "awaiting_response"


def test_other_bad_requests_are_4xx(client: TestClient, seeded: Any) -> None:
    assert client.post(_url(seeded), json={"external_id": "u1"}, auth=AUTH).status_code == 422
    assert client.post("/api/campaigns/999999/remedies", json=[], auth=AUTH).status_code == 404
    many = [{"external_id": f"x{i}", "completed_at": "2026-01-05"} for i in range(5001)]
    assert client.post(_url(seeded), json=many, auth=AUTH).status_code == 413
    broken = client.post(
        _url(seeded), content=b"[{", headers={"content-type": "application/json"}, auth=AUTH
    )
    assert broken.status_code == 422


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=20,
)  # fmt: skip
ITEM = st.fixed_dictionaries(
    {"external_id": st.sampled_from(["u4", "u5", "", "nobody"]) | st.text(max_size=10),
     "completed_at": st.sampled_from(["2026-01-05", "2099-01-01", "x"]) | st.text(max_size=20)},
    optional={"note": st.text(max_size=20) | st.integers()},
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.lists(ITEM, max_size=5) | JSON | st.binary(max_size=60))
def test_no_body_gets_a_5xx(client: TestClient, seeded: Any, body: Any) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.post(
        _url(seeded), content=content, headers={"content-type": "application/json"}, auth=AUTH
    )
    assert answer.status_code in (200, 400, 413, 422), answer.text


def test_remedy_done_on_the_case_page(
    login: Callable[..., str], client: TestClient, seeded: Any, web_env: Engine
) -> None:
    csrf = login(client)
    with Session(web_env) as session:
        case_id = session.scalar(
            select(Case.id).join(Recipient).where(Recipient.external_id == "u3")
        )
    page = client.get(f"/dashboard/inbox/{case_id}")
    assert 'id="remedy-done"' in page.text
    refused = client.post(f"/dashboard/remedies/case/{case_id}", data={"note": "x"})
    assert refused.status_code == 403 and _confirmations(web_env) == 0
    done = client.post(
        f"/dashboard/remedies/case/{case_id}",
        data={"csrf_token": csrf, "note": "at the counter"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/dashboard/inbox/{case_id}"
    shown = client.get(f"/dashboard/inbox/{case_id}").text
    assert "Remedy confirmed: the case is completed (it never agreed" in shown
    assert _states(web_env)["u3"] == "completed"
    with Session(web_env) as session:
        row = session.scalars(select(RemedyConfirmation)).one()
    assert (row.source, row.actor, row.note) == ("dashboard", "user:ann", "at the counter")


def test_the_campaign_page_report_and_metrics_show_the_figures(
    login: Callable[..., str], client: TestClient, seeded: Any, web_env: Engine
) -> None:
    from pipeline.clock import utcnow
    from pipeline.models import SatisfactionAnswer
    from pipeline.reporting.report import render_report

    items = [{"external_id": "u2", "completed_at": "2026-01-05"}]
    assert client.post(_url(seeded), json=items, auth=AUTH).status_code == 200
    with Session(web_env) as session:
        for external_id, score in (("u0", 5), ("u1", None)):
            case = session.scalars(
                select(Case).join(Recipient).where(Recipient.external_id == external_id)
            ).one()
            session.add(SatisfactionAnswer(
                case_id=case.id, campaign_id=case.campaign_id, channel="sms",
                asked_at=utcnow(), score=score, answered_at=utcnow() if score else None,
            ))  # fmt: skip
        session.commit()
    login(client)
    page = client.get(f"/dashboard/campaigns/{seeded.campaign_id}").text
    assert '<b data-remedies="remedied_without_agreement">1</b>' in page
    assert '<b data-satisfaction="mean">5.00</b>' in page
    assert '<b data-satisfaction="rate">50.0%</b>' in page
    metrics = client.get("/metrics", auth=AUTH).text
    assert f'recall_satisfaction_mean{{campaign="{seeded.campaign_id}"}} 5.0' in metrics
    assert (
        f'recall_remedies{{campaign="{seeded.campaign_id}",stage="remedied_without_agreement"}} 1.0'
        in metrics
    )
    with Session(web_env) as session:
        report = render_report(session, seeded.campaign_id, "csv")
    assert "# remedies remedied_without_agreement: 1" in report
    assert "# satisfaction mean: 5.0" in report and "# satisfaction score 5: 1" in report
