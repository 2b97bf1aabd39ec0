"""Roles: every state-changing route names the role it needs, lets that role (and those
above) through, refuses the ones below with a 403 naming the role (audited), and a viewer
never receives a full phone number or email from any page or API answer.

Routes are discovered from the app itself, so a new route without a role check fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.models import AuditEvent
from pipeline.privacy.roles import ROLES, allows

Login = Callable[..., str]
PASSWORD = "correct horse battery staple"  # tests/dashboard/conftest.py's, for HTTP Basic

# Open to the internet by design: each checks a provider signature or a signed link instead.
PUBLIC_PREFIXES = ("/webhooks/", "/r/", "/s/", "/login", "/logout")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# The role each state-changing route needs: a route missing here fails the test below, so
# whoever adds one decides its role on purpose.
EXPECTED = {
    "/dashboard/campaigns/{campaign_id}/{action}": "operator",
    "/dashboard/queues/{queue}/dead/{message_id}/{action}": "operator",
    "/dashboard/inbox/{case_id}/reveal": "agent",
    "/dashboard/inbox/{case_id}/reply": "agent",
    "/dashboard/inbox/{case_id}/phone-answer": "agent",
    "/dashboard/inbox/{case_id}/take": "agent",
    "/dashboard/inbox/{case_id}/release": "agent",
    "/dashboard/inbox/{case_id}/complaint": "agent",
    "/dashboard/complaints/{complaint_id}/stage": "agent",
    "/dashboard/inbox/demands/{demand_id}/close": "agent",
    "/api/campaigns/{campaign_id}/remedies": "operator",
    "/dashboard/remedies/case/{case_id}": "operator",
}


def _needed_roles(dependant: Any) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        role = getattr(sub.call, "needed_role", None)
        if role is not None:
            found.append(role)
        found += _needed_roles(sub)
    return found


def _routes(methods: set[str]) -> Iterator[Any]:
    from web.app import create_app

    for route in _flat(create_app().routes):
        if set(route.methods or ()) & methods and not route.path.startswith(PUBLIC_PREFIXES):
            yield route


def _flat(routes: list[Any]) -> Iterator[Any]:
    """Every endpoint with its full path and dependencies: FastAPI 0.165 keeps an included
    router as one entry, whose effective routes carry the prefix and the router's own
    dependencies."""
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            yield from route.effective_route_contexts()
        elif isinstance(route, APIRoute):
            yield route


def _fill(path: str, seeded: Any) -> str:
    values = {
        "campaign_id": seeded.campaign_id,
        "case_id": seeded.query_case_id,
        "queue": "default",
        "message_id": "no-such-message",
    }
    path = re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "{" + m.group(1) + "}")), path)
    # The last free segment is an action: pick one each router knows.
    return path.replace("{action}", "delete" if "/dead/" in path else "pause")


def test_every_state_changing_route_names_the_role_it_needs(web_env: Engine) -> None:
    routes = list(_routes(STATE_CHANGING))
    assert routes, "no state-changing route found: the discovery is broken"
    for route in routes:
        needed = _needed_roles(route.dependant)
        assert needed, f"{route.path} changes state but checks no role"
        assert route.path in EXPECTED, f"{route.path}: add it to EXPECTED with its role"
        assert needed[0] == EXPECTED[route.path], route.path


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_let_through_or_refused_with_the_role_it_needs(
    role: str,
    role_users: dict[str, str],
    login: Login,
    client: TestClient,
    seeded: Any,
    web_env: Engine,
) -> None:
    csrf = login(client, role_users[role])
    refused = []
    for route in _routes(STATE_CHANGING):
        needed = EXPECTED[route.path]
        path = _fill(route.path, seeded)
        method = sorted(route.methods & STATE_CHANGING)[0]
        form = {"csrf_token": csrf, "text": "Bring it to any shop.", "answer": "agree"}
        answer = client.request(method, path, data=form, follow_redirects=False)
        if allows(role, needed):
            assert answer.status_code != 403, (role, path, answer.text[:200])
        else:
            assert answer.status_code == 403, (role, path, answer.status_code)
            assert f"needs the {needed} role" in answer.json()["detail"]
            refused.append(path)
    with Session(web_env) as db:
        audited = db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.refused")).all()
    assert sorted(e.data["path"] for e in audited) == sorted(refused)
    assert all(e.actor == f"user:{role_users[role]}" for e in audited)
    if role == "viewer":  # every state-changing route needs more than a viewer
        assert len(refused) == len(list(_routes(STATE_CHANGING)))


def _every_get(seeded: Any) -> list[str]:
    paths = []
    for route in _routes({"GET"}):
        filled = _fill(route.path, seeded)
        if "{" not in filled:
            paths.append(filled)
    return paths


def test_a_viewer_never_receives_a_full_phone_number_or_email(
    role_users: dict[str, str], login: Login, client: TestClient, seeded: Any
) -> None:
    login(client, role_users["viewer"])
    seen = 0
    for path in _every_get(seeded):
        answer = client.get(path, follow_redirects=False)
        seen += answer.status_code == 200
        for secret in seeded.secrets:
            assert secret not in answer.text, (path, secret)
    assert seen >= 10, "too few pages answered: the crawl looked at nothing"


def test_the_inbox_is_refused_to_a_viewer_and_open_to_an_agent(
    role_users: dict[str, str], login: Login, client: TestClient, seeded: Any
) -> None:
    paths = ["/dashboard/inbox", f"/dashboard/inbox/{seeded.query_case_id}", "/api/queries"]
    login(client, role_users["viewer"])
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 403 and "needs the agent role" in answer.text, path
    login(client, role_users["agent"])
    assert all(client.get(path).status_code == 200 for path in paths)


def test_the_dashboard_hides_what_the_role_cannot_use(
    role_users: dict[str, str], login: Login, client: TestClient, seeded: Any
) -> None:
    page = f"/dashboard/campaigns/{seeded.campaign_id}"
    login(client, role_users["viewer"])
    viewer = client.get(page).text
    assert 'href="/dashboard/inbox"' not in viewer and "/pause" not in viewer
    login(client, role_users["agent"])
    agent = client.get(page).text
    assert 'href="/dashboard/inbox"' in agent and "/pause" not in agent
    login(client, role_users["operator"])
    assert "/pause" in client.get(page).text


def test_a_user_listed_without_a_role_is_a_viewer(
    login: Login, client: TestClient, seeded: Any
) -> None:
    csrf = login(client, "nora")
    answer = client.post(
        f"/dashboard/campaigns/{seeded.campaign_id}/pause",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert answer.json()["detail"] == "this needs the operator role; nora is viewer"


def test_an_api_script_is_refused_by_role_too(
    role_users: dict[str, str], client: TestClient, seeded: Any
) -> None:
    viewer = (role_users["viewer"], PASSWORD)
    answer = client.get("/api/unmatched", auth=viewer)
    assert answer.status_code == 403 and "needs the agent role" in answer.json()["detail"]
    assert client.get("/api/campaigns", auth=viewer).status_code == 200
    assert client.get("/api/unmatched", auth=(role_users["agent"], PASSWORD)).status_code == 200


def test_startup_names_each_user_who_defaulted_to_viewer(
    web_env: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    from web.app import create_app

    with caplog.at_level("WARNING", logger="web.auth"):
        create_app()
    defaulted = [r.getMessage() for r in caplog.records if "auth.role_defaulted" in r.getMessage()]
    assert defaulted == ["auth.role_defaulted user=nora role=viewer"]
