"""The dashboard and /api over HTTP: who gets in, what they see, what they may change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.models import AgentReply, AuditEvent, Case, Response

pytestmark = pytest.mark.postgres
PASSWORD = "correct horse battery staple"
Login = Callable[..., str]

PAGES = [
    "/dashboard",
    "/dashboard/campaigns",
    "/dashboard/queues",
    "/dashboard/inbox",
    "/dashboard/unmatched",
    "/dashboard/incidents",
]
API = [
    "/api/campaigns",
    "/api/queues",
    "/api/workers",
    "/api/queries",
    "/api/unmatched",
    "/api/incidents",
]


def every_view(client: TestClient, seeded: Any) -> dict[str, str]:
    paths = [
        *PAGES,
        *API,
        f"/dashboard/campaigns/{seeded.campaign_id}",
        f"/dashboard/inbox/{seeded.query_case_id}",
        f"/api/campaigns/{seeded.campaign_id}",
        "/dashboard/campaigns/live",
        "/dashboard/inbox/live",
        "/dashboard/live",
        f"/dashboard/campaigns/{seeded.campaign_id}/live",
    ]
    views = {}
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        views[path] = answer.text
    return views


def test_anonymous_pages_redirect_to_login_and_api_says_401(
    client: TestClient, seeded: Any
) -> None:
    for path in [*PAGES, f"/dashboard/campaigns/{seeded.campaign_id}"]:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=/dashboard")
    for path in [*API, f"/api/campaigns/{seeded.campaign_id}"]:
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("user", ["ann", "bob", "carol"])
def test_each_password_form_logs_in_and_wrong_ones_do_not(
    login: Login, csrf_of: Callable[[str], str], client: TestClient, user: str
) -> None:
    assert client.get("/api/campaigns", auth=(user, PASSWORD)).status_code == 200
    assert client.get("/api/campaigns", auth=(user, PASSWORD + "x")).status_code == 401
    assert client.get("/api/campaigns", auth=("nobody", PASSWORD)).status_code == 401
    page = client.get("/login")
    wrong = client.post(
        "/login",
        data={"username": user, "password": "nope", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert wrong.status_code == 401
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    login(client, user)
    assert client.get("/dashboard").status_code == 200


def test_login_and_forms_refuse_a_missing_or_forged_csrf_token(
    login: Login, client: TestClient, seeded: Any
) -> None:
    no_token = client.post(
        "/login", data={"username": "ann", "password": PASSWORD}, follow_redirects=False
    )
    assert no_token.status_code == 403
    csrf = login(client)
    target = f"/dashboard/campaigns/{seeded.campaign_id}/pause"
    assert client.post(target, data={}).status_code == 403
    assert client.post(target, data={"csrf_token": csrf + "x"}).status_code == 403
    # Another session's token is no good either.
    other = TestClient(client.app)
    other_csrf = login(other, "bob")
    assert client.post(target, data={"csrf_token": other_csrf}).status_code == 403


def test_logout_ends_the_session(login: Login, client: TestClient) -> None:
    csrf = login(client)
    answer = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    assert client.get("/api/campaigns").status_code == 401


def test_no_view_shows_a_full_phone_or_email(login: Login, client: TestClient, seeded: Any) -> None:
    login(client)
    views = every_view(client, seeded)
    for path, text in views.items():
        for secret in seeded.secrets:
            assert secret not in text, (path, secret)
    # Masked forms are there, so the check above looked at real content.
    assert "+1******1003" in views[f"/dashboard/inbox/{seeded.query_case_id}"]


def test_full_view_is_on_request_and_audited(
    login: Login, client: TestClient, seeded: Any, web_env: Engine
) -> None:
    csrf = login(client)
    answer = client.post(
        f"/dashboard/inbox/{seeded.query_case_id}/reveal", data={"csrf_token": csrf}
    )
    assert answer.status_code == 200
    assert seeded.phones[3] in answer.text and seeded.emails[3] in answer.text
    with Session(web_env) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "contact.view_full")
        ).all()
    assert [(e.actor, e.entity) for e in events] == [("user:ann", f"case:{seeded.query_case_id}")]
    # The next plain view is masked again.
    assert seeded.phones[3] not in client.get(f"/dashboard/inbox/{seeded.query_case_id}").text


def test_campaign_views_show_the_seeded_figures(
    login: Login, client: TestClient, seeded: Any
) -> None:
    login(client)
    listing = client.get("/api/campaigns").json()
    assert [(c["id"], c["cases"], c["completed"]) for c in listing] == [(seeded.campaign_id, 6, 2)]
    assert listing[0]["completion"] == pytest.approx(2 / 6)
    status = client.get(f"/api/campaigns/{seeded.campaign_id}").json()
    assert status["states"]["completed"] == 2 and status["states"]["query_open"] == 1
    page = client.get(f"/dashboard/campaigns/{seeded.campaign_id}").text
    assert "33.3%" in page
    assert 'data-funnel="answered">4<' in page
    assert client.get("/api/campaigns/999999").status_code == 404


def test_openapi_documents_the_api_with_response_models(client: TestClient, login: Login) -> None:
    assert client.get("/openapi.json").status_code == 401  # behind the login (issue 13)
    login(client)
    schema = client.get("/openapi.json").json()
    for path in [*API, "/api/campaigns/{campaign_id}"]:
        get = schema["paths"][path]["get"]
        assert "$ref" in str(get["responses"]["200"]["content"]), path
    assert "/dashboard" not in schema["paths"]


def test_answering_a_query_returns_the_case_and_queues_the_answer(
    login: Login, client: TestClient, seeded: Any, web_env: Engine
) -> None:
    from actors.broker import broker
    from actors.channel import send_followup

    broker.flush_all()
    csrf = login(client)
    answer = client.post(
        f"/dashboard/inbox/{seeded.query_case_id}/reply",
        data={"csrf_token": csrf, "text": "Any store, any weekday."},
    )
    assert answer.status_code == 200
    assert "Answer sent by sms" in answer.text
    with Session(web_env) as session:
        case = session.get(Case, seeded.query_case_id)
        assert case is not None and case.state == "awaiting_response"
        replies = session.scalars(select(AgentReply)).all()
        assert [(r.case_id, r.channel, r.agent) for r in replies] == [
            (seeded.query_case_id, "sms", "user:ann")
        ]
    sent = [
        m for m in broker.queues[send_followup.queue_name].queue if b"agent_answer" in m
    ]  # the stub broker keeps encoded messages
    assert len(sent) == 1
    # The in-process broker's queue shows on the queues API and page too.
    (followups,) = [q for q in client.get("/api/queues").json() if q["name"] == "followup"]
    assert followups["ready"] == broker.queues["followup"].qsize() >= 1
    assert client.get("/api/queries").json() == []
    # A second answer to a closed query is refused, nothing more is queued.
    again = client.post(
        f"/dashboard/inbox/{seeded.query_case_id}/reply", data={"csrf_token": csrf, "text": "again"}
    )
    assert "Not sent" in again.text


def test_an_answer_heard_by_phone_counts(
    login: Login, client: TestClient, seeded: Any, web_env: Engine
) -> None:
    csrf = login(client)
    answer = client.post(
        f"/dashboard/inbox/{seeded.query_case_id}/phone-answer",
        data={"csrf_token": csrf, "answer": "agree"},
    )
    assert "Recorded: agree" in answer.text
    with Session(web_env) as session:
        case = session.get(Case, seeded.query_case_id)
        assert case is not None and case.state == "completed"
        voice = session.scalars(select(Response).where(Response.channel == "voice")).all()
        assert [(r.case_id, r.kind) for r in voice] == [(seeded.query_case_id, "agree")]
    bad = client.post(
        f"/dashboard/inbox/{seeded.query_case_id}/phone-answer",
        data={"csrf_token": csrf, "answer": "maybe"},
    )
    assert "Not recorded" in bad.text


def test_pause_and_resume_buttons(login: Login, client: TestClient, seeded: Any) -> None:
    csrf = login(client)
    paused = client.post(
        f"/dashboard/campaigns/{seeded.campaign_id}/pause", data={"csrf_token": csrf}
    )
    assert "Campaign paused." in paused.text
    assert client.get(f"/api/campaigns/{seeded.campaign_id}").json()["state"] == "paused"
    resumed = client.post(
        f"/dashboard/campaigns/{seeded.campaign_id}/resume", data={"csrf_token": csrf}
    )
    assert "Campaign resumed." in resumed.text
    assert client.get(f"/api/campaigns/{seeded.campaign_id}").json()["state"] == "running"
