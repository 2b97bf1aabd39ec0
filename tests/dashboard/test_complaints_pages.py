"""The team's inbox and the complaints page over HTTP: filters, the take, a complaint's
stages as inbox actions (audited), and the statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.models import AuditEvent, Complaint, ComplaintStep, InboxClaim

pytestmark = pytest.mark.postgres
Login = Callable[..., str]


def test_inbox_filters_and_bad_filters(login: Login, client: TestClient, seeded: Any) -> None:
    login(client)
    page = client.get("/dashboard/inbox")
    assert page.status_code == 200
    assert f'data-case="{seeded.query_case_id}"' in page.text
    assert "Answer within" not in page.text  # no global deadline in the header
    assert "1 item(s) · page 1 of 1" in page.text
    none = client.get("/dashboard/inbox?kind=complaint")
    assert "0 item(s)" in none.text and "Nothing waiting." in none.text
    live = client.get(f"/dashboard/inbox/live?campaign={seeded.campaign_id}&overdue=false")
    assert f'data-case="{seeded.query_case_id}"' in live.text
    assert client.get("/dashboard/inbox?kind=rant").status_code == 400
    assert client.get("/dashboard/inbox?page=0").status_code == 422
    assert client.get("/dashboard/inbox?overdue=maybe").status_code == 422


def test_only_the_holder_answers(
    login: Login, client: TestClient, seeded: Any, web_env: Engine
) -> None:
    case_id = seeded.query_case_id
    csrf = login(client, "bob")
    taken = client.post(f"/dashboard/inbox/{case_id}/take", data={"csrf_token": csrf})
    assert "You have taken this item." in taken.text
    assert 'id="owner">user:bob<' in taken.text
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "ann")
    again = client.post(f"/dashboard/inbox/{case_id}/take", data={"csrf_token": csrf})
    assert "Taken by user:bob." in again.text
    refused = client.post(
        f"/dashboard/inbox/{case_id}/reply", data={"csrf_token": csrf, "text": "Any store."}
    )
    assert f"Not sent: case {case_id} is taken by user:bob" in refused.text
    with Session(web_env) as session:
        assert session.scalars(select(InboxClaim.agent)).all() == ["user:bob"]
        actions = session.scalars(select(AuditEvent.action)).all()
        assert actions.count("inbox.take") == 1


def test_a_complaint_through_its_stages_from_the_inbox(
    login: Login, client: TestClient, seeded: Any, web_env: Engine
) -> None:
    case_id = seeded.query_case_id
    csrf = login(client)
    classified = client.post(f"/dashboard/inbox/{case_id}/complaint", data={"csrf_token": csrf})
    assert "Classified as a complaint and routed." in classified.text
    with Session(web_env) as session:
        complaint = session.scalars(select(Complaint)).one()
    assert (complaint.type, complaint.stage) == ("agent", "routed")
    path = f"/dashboard/complaints/{complaint.id}/stage"
    # Not held yet: the move takes the item for ann, then applies.
    moved = client.post(path, data={"csrf_token": csrf, "stage": "investigating"})
    assert "Complaint moved to investigating." in moved.text
    skipped = client.post(path, data={"csrf_token": csrf, "stage": "closed"})
    assert "Not done: a complaint in investigating moves to awaiting_approval" in skipped.text
    client.post(path, data={"csrf_token": csrf, "stage": "awaiting_approval"})
    bad = client.post(path, data={"csrf_token": csrf, "stage": "resolved", "outcome": "meh"})
    assert "Not done: outcome: must be one of" in bad.text
    resolved = client.post(
        path, data={"csrf_token": csrf, "stage": "resolved", "outcome": "partly_upheld"}
    )
    assert "stage <b>resolved</b>" in resolved.text
    assert client.post(path, data={"csrf_token": csrf, "stage": "x" * 40}).status_code == 422
    assert (
        client.post(
            "/dashboard/complaints/999999/stage", data={"csrf_token": csrf, "stage": "closed"}
        ).status_code
        == 404
    )
    in_inbox = client.get("/dashboard/inbox?kind=complaint&stage=resolved")
    assert f'data-case="{case_id}" data-kind="complaint"' in in_inbox.text
    with Session(web_env) as session:
        steps = session.scalars(select(ComplaintStep).order_by(ComplaintStep.id)).all()
        assert [(s.stage, s.actor) for s in steps] == [
            ("routed", "user:ann"), ("investigating", "user:ann"),
            ("awaiting_approval", "user:ann"), ("resolved", "user:ann"),
        ]  # fmt: skip
        assert [s.met for s in steps] == [True, True, True, None]

    stats = client.get("/dashboard/complaints")
    assert stats.status_code == 200
    assert "1 complaint(s): 1 open, 0 closed, 0 reopened, 0 overdue." in stats.text
    assert '<tr data-deadline="team_formed"><td>team formed</td><td>1</td><td>1</td>' in (
        stats.text.replace("\n      ", "")
    )
    assert "partly upheld</td><td>1<" in stats.text
    assert "0 complaint(s)" in client.get("/dashboard/complaints?since=2999-01-01").text
    assert client.get("/dashboard/complaints?since=yesterday").status_code == 422


def test_any_inbox_query_string_is_a_page_or_a_4xx(login: Login, client: TestClient) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    login(client)
    names = st.sampled_from(["campaign", "kind", "stage", "overdue", "language", "channel",
                             "owner", "page"])  # fmt: skip

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(names, st.text(max_size=40), max_size=4))
    def check(params: dict[str, str]) -> None:
        for path in ("/dashboard/inbox", "/dashboard/inbox/live"):
            answer = client.get(path, params=params)
            assert answer.status_code in (200, 400, 422), (params, answer.status_code)

    check()
