"""Login and sessions (issue 13): constant cost whatever the name, throttling with a clear
wait, every try logged and audited, sessions held server side so they can end."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import bcrypt
import pytest
import time_machine
from argon2 import PasswordHasher, extract_parameters
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.models import AuditEvent, WebSession
from pipeline.privacy.passwords import check_login, stand_in

Login = Callable[..., str]
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _post_login(client: TestClient, user: str, password: str) -> Any:
    page = client.get("/login")
    token = CSRF.search(page.text)
    assert token
    data = {"username": user, "password": password, "csrf_token": token.group(1)}
    return client.post("/login", data=data, follow_redirects=False)


def _app(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> TestClient:
    from pipeline.settings import get_settings
    from web.app import create_app

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return TestClient(create_app())


@pytest.fixture
def strict(web_env: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    env = {"RECALL_LOGIN_FAILURES_PER_USER": "3", "RECALL_LOGIN_FAILURES_PER_ADDRESS": "6"}
    with _app(env, monkeypatch) as client:
        yield client


# --- constant cost ----------------------------------------------------------------------


def test_an_unknown_name_costs_what_the_list_costs_never_more() -> None:
    plain = "ann:pw-one,bob:pw-two"
    assert not stand_in(plain).startswith("$")  # a comparison, not an argon2 hash
    argon = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("x")
    assert extract_parameters(stand_in(f"ann:{argon}")) == extract_parameters(argon)
    crypt = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=5)).decode()
    assert stand_in(f"bob:{crypt}").startswith("$2b$05$")
    assert check_login(plain, "nobody", "pw-one") is None
    assert check_login(plain, "ann", "pw-one") is not None
    assert check_login(f"ann:{argon}", "nobody", "x") is None


def test_roles_are_read_and_a_missing_role_is_viewer() -> None:
    # Issue 17 changed the default: an entry without a role is a viewer, no longer an admin.
    from pipeline.privacy.passwords import parse_user_list

    users = parse_user_list("ann:pw:agent,bob:pa:ss,carol:x:viewer")
    assert [(u.password, u.role) for u in users.values()] == [
        ("pw", "agent"),
        ("pa:ss", "viewer"),
        ("x", "viewer"),
    ]
    assert [u.role_given for u in users.values()] == [True, False, True]


def test_an_argon2_hash_followed_by_a_role_stays_one_entry() -> None:
    from argon2 import PasswordHasher

    from pipeline.privacy.passwords import check_login, parse_user_list

    hashed = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    spec = f"ann:{hashed}:operator,bob:{hashed}"
    users = parse_user_list(spec)
    assert [(u.name, u.password, u.role) for u in users.values()] == [
        ("ann", hashed, "operator"),
        ("bob", hashed, "viewer"),
    ]
    assert check_login(spec, "ann", "pw") == users["ann"]


# --- throttling, logging, audit ---------------------------------------------------------


@pytest.mark.parametrize("name", ["ann", "nobody-at-all"])
def test_failures_for_one_name_make_it_wait_known_or_not(strict: TestClient, name: str) -> None:
    for _ in range(3):
        assert _post_login(strict, name, "wrong").status_code == 401
    refused = _post_login(strict, name, PASSWORD)
    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= 900
    assert f"Try again in {wait} s" in refused.text
    with time_machine.travel(utcnow() + timedelta(seconds=wait + 1), tick=False):
        after = _post_login(strict, name, PASSWORD)
    assert after.status_code == (303 if name == "ann" else 401)


def test_failures_from_one_address_make_every_name_wait(strict: TestClient) -> None:
    for i in range(6):
        assert _post_login(strict, f"user{i}", "wrong").status_code == 401
    assert _post_login(strict, "ann", PASSWORD).status_code == 429
    basic = strict.get("/api/campaigns", auth=("ann", PASSWORD))
    assert basic.status_code == 429 and "try again in" in basic.json()["detail"]


def test_every_login_is_logged_masked_and_audited(
    client: TestClient, web_env: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="web.auth")
    assert _post_login(client, "ann", "wrong").status_code == 401
    assert _post_login(client, "secret-typed-as-name", "x").status_code == 401
    assert _post_login(client, "ann", PASSWORD).status_code == 303
    lines = [r.getMessage() for r in caplog.records if r.name == "web.auth"]
    assert any(line.startswith("auth.login_failed user=ann") for line in lines), lines
    assert any(line.startswith("auth.login_ok user=ann") for line in lines), lines
    assert not any("secret-typed-as-name" in line for line in lines)
    with Session(web_env) as session:
        rows = session.execute(select(AuditEvent.actor, AuditEvent.action)).all()
    assert ("ann", "auth.login_failed") in rows and ("ann", "auth.login") in rows
    metrics = client.get("/metrics").text
    assert re.search(r'recall_login_attempts_total\{outcome="failed",via="form"\} [1-9]', metrics)
    assert ("(unknown user)", "auth.login_failed") in rows
    assert all("secret-typed" not in str(row) for row in rows)


# --- sessions ---------------------------------------------------------------------------


def _cookie(client: TestClient) -> str:
    value = client.cookies.get("recall_session")
    assert value
    return value


def _is_in(client: TestClient, cookie: str) -> bool:
    client.cookies.clear()
    client.cookies.set("recall_session", cookie)
    return client.get("/dashboard", follow_redirects=False).status_code == 200


def test_logout_ends_the_session_for_a_replayed_cookie(client: TestClient, login: Login) -> None:
    csrf = login(client)
    cookie = _cookie(client)
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    assert not _is_in(client, cookie)


def test_removing_a_user_or_changing_the_password_ends_their_sessions(
    web_env: Engine, monkeypatch: pytest.MonkeyPatch, login: Login
) -> None:
    with _app(
        {"RECALL_DASHBOARD_USERS": f"carol:{PASSWORD},dan:{PASSWORD}x"}, monkeypatch
    ) as first:
        login(first, "carol")
        carol = _cookie(first)
        first.cookies.clear()
        login(first, "dan", PASSWORD + "x")
        dan = _cookie(first)
        assert _is_in(first, carol) and _is_in(first, dan)
    # Restarted with carol removed and dan's password changed:
    with _app({"RECALL_DASHBOARD_USERS": f"dan:{PASSWORD}y"}, monkeypatch) as second:
        assert not _is_in(second, carol)
        assert not _is_in(second, dan)
    with Session(web_env) as session:
        assert session.scalars(select(WebSession)).all() == []


def test_sessions_idle_out_and_end_at_their_absolute_timeout(
    web_env: Engine, monkeypatch: pytest.MonkeyPatch, login: Login
) -> None:
    env = {"RECALL_SESSION_IDLE_MINUTES": "45", "RECALL_SESSION_ABSOLUTE_HOURS": "1"}
    start = utcnow()
    with _app(env, monkeypatch) as client, time_machine.travel(start, tick=False) as clock:
        login(client)
        cookie = _cookie(client)
        clock.move_to(start + timedelta(minutes=40))
        assert _is_in(client, cookie)
        clock.move_to(start + timedelta(minutes=70))  # active, but past the absolute hour
        assert not _is_in(client, cookie)
        client.cookies.clear()
        login(client)
        idle = _cookie(client)
        clock.move_to(start + timedelta(minutes=70 + 46))
        assert not _is_in(client, idle)


def test_a_renewed_cookie_never_outlives_the_absolute_timeout(
    client: TestClient, login: Login, seeded: Any
) -> None:
    start = utcnow()
    with time_machine.travel(start, tick=False) as clock:
        first = _post_login(client, "ann", PASSWORD)
        assert _max_age(first.headers["set-cookie"]) <= 12 * 3600
        csrf = CSRF.search(client.get("/dashboard").text)
        assert csrf
        for minutes in range(25, 11 * 60 + 55, 25):  # active all along: it never idles out
            clock.move_to(start + timedelta(minutes=minutes))
            assert client.get("/dashboard", follow_redirects=False).status_code == 200
        clock.move_to(start + timedelta(hours=11, minutes=55))
        answer = client.post(
            f"/dashboard/campaigns/{seeded.campaign_id}/pause",
            data={"csrf_token": csrf.group(1)},
            follow_redirects=False,
        )
    assert answer.status_code == 303
    assert _max_age(answer.headers["set-cookie"]) <= 5 * 60


def _max_age(set_cookie: str) -> int:
    match = re.search(r"Max-Age=(\d+)", set_cookie, re.IGNORECASE)
    assert match, set_cookie
    return int(match.group(1))


def test_a_burst_of_unknown_names_makes_one_stand_in_not_one_each() -> None:
    from concurrent.futures import ThreadPoolExecutor

    argon = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("burst")
    spec = f"eve:{argon}"
    with ThreadPoolExecutor(8) as pool:
        made = set(pool.map(lambda _: stand_in(spec), range(16)))
    assert len(made) == 1  # every stand-in hash has its own salt: one value, one hashing


def test_ids_beyond_64_bits_are_refused_on_postgresql_too(client: TestClient, login: Login) -> None:
    login(client)
    for path in ("/api/campaigns/{}", "/dashboard/campaigns/{}", "/dashboard/inbox/{}"):
        for raw in ("9223372036854775808", "1" * 30):
            assert client.get(path.format(raw), follow_redirects=False).status_code == 422
    assert client.get("/api/campaigns/9223372036854775807").status_code == 404


def test_a_script_s_basic_logins_are_not_each_audited(client: TestClient, web_env: Engine) -> None:
    for _ in range(3):
        assert client.get("/api/campaigns", auth=("ann", PASSWORD)).status_code == 200
    assert client.get("/api/campaigns", auth=("ann", "wrong")).status_code == 401
    with Session(web_env) as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions == ["auth.login_failed"]
