"""Fixtures for the dashboard tests: the app on this test's PostgreSQL database, a seeded
campaign, and logging in through the form (helpers are fixtures: the suite imports test
modules in importlib mode, where sibling modules cannot be imported)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.models import Attempt, Campaign, Case, MetricSnapshot, Recipient, Response

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Seeded:
    campaign_id: int
    query_case_id: int
    phones: list[str]
    emails: list[str]
    secrets: list[str]  # every full contact string that must never show unasked


def seed(session: Session, *, users: int = 6) -> Seeded:
    """A running campaign: 2 completed, 1 refused, 1 open query, the rest waiting."""
    now = utcnow()
    campaign = Campaign(
        name="Battery recall",
        reason="product_quality",
        description="Batteries may overheat.",
        remedy="Bring it back.",
        deadline=now + timedelta(days=10),
        state="running",
        launched_at=now - timedelta(hours=3),
        policy={"default": [{"channel": "sms", "wait": "1h"}]},
    )
    session.add(campaign)
    session.flush()
    phones = [f"+1415555{1000 + i:04d}" for i in range(users)]
    emails = [f"person{i}@example.com" for i in range(users)]
    states = ["completed", "completed", "refused", "query_open"] + ["awaiting_response"] * (
        users - 4
    )
    query_case_id = 0
    for i, state in enumerate(states):
        recipient = Recipient(
            external_id=f"u{i}", name=f"User {i}", phone=phones[i], email=emails[i]
        )
        session.add(recipient)
        session.flush()
        answered = state in ("completed", "refused", "query_open")
        case = Case(
            campaign_id=campaign.id,
            recipient_id=recipient.id,
            state=state,
            first_notified_at=now - timedelta(hours=3),
            reached_at=now - timedelta(hours=3),
            last_response={"completed": "agree", "refused": "refuse"}.get(state, "query")
            if answered
            else None,
            last_response_at=now - timedelta(hours=2 - i * 0.1) if answered else None,
            answered_channel="sms" if answered else None,
            answered_step=0 if answered else None,
            query_due_at=now + timedelta(hours=20) if state == "query_open" else None,
        )
        session.add(case)
        session.flush()
        session.add(
            Attempt(
                case_id=case.id,
                channel="sms",
                step=0,
                status="delivered",
                cost_units=1.0,
                sent_at=now - timedelta(hours=3),
            )
        )
        if answered:
            text = {
                "completed": "YES",
                "refused": "NO",
                "query_open": f"When can I bring it? Write to {emails[i]} or {phones[i]}",
            }[state]
            session.add(
                Response(
                    case_id=case.id,
                    channel="sms",
                    kind=case.last_response,
                    raw_text=text,
                    sender=phones[i],
                    received_at=case.last_response_at,
                )
            )
        if state == "query_open":
            query_case_id = case.id
    session.add(
        Response(
            case_id=None,
            channel="sms",
            kind="agree",
            raw_text="YES from a stranger",
            sender="+14155559999",
        )
    )
    session.add(
        MetricSnapshot(
            campaign_id=campaign.id,
            at=now - timedelta(hours=1),
            completion=0.1,
            counts={"completed": 1},
        )
    )
    session.commit()
    secrets = phones + emails + ["+14155559999", *(p[1:] for p in phones)]
    return Seeded(campaign.id, query_case_id, phones, emails, secrets)


def find_csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def log_in(client: TestClient, user: str = "ann", password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": find_csrf(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return find_csrf(client.get("/dashboard").text)


@pytest.fixture
def login() -> Callable[..., str]:
    return log_in


@pytest.fixture
def csrf_of() -> Callable[[str], str]:
    return find_csrf


@pytest.fixture
def seeded(web_env: Engine) -> Seeded:
    with Session(web_env) as session:
        return seed(session)


@functools.cache
def users_setting() -> str:
    """ann has an argon2 hash (it contains commas), bob a bcrypt hash, carol a plain one;
    all three are admins. One user per lower role (ROLE_USERS), and "nora" names no role."""
    import bcrypt
    from argon2 import PasswordHasher

    ann = PasswordHasher().hash(PASSWORD)
    bob = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    others = ",".join(f"{name}:{PASSWORD}:{role}" for role, name in ROLE_USERS.items())
    return f"ann:{ann}:admin,bob:{bob}:admin,carol:{PASSWORD}:admin,{others},nora:{PASSWORD}"


# One user of each role (plain passwords: logging in stays cheap).
ROLE_USERS = {"viewer": "vic", "agent": "agnes", "operator": "otto", "admin": "adele"}


@pytest.fixture
def web_env(pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Settings pointing the app at this test's PostgreSQL database."""
    from pipeline.settings import get_settings

    monkeypatch.setenv("RECALL_DATABASE_URL", pg_engine.url.render_as_string(False))
    monkeypatch.setenv("RECALL_DASHBOARD_USERS", users_setting())
    monkeypatch.setenv("RECALL_SECRET_KEY", "test-secret-key")
    get_settings.cache_clear()
    yield pg_engine
    get_settings.cache_clear()


@pytest.fixture
def client(web_env: Engine) -> Iterator[TestClient]:
    from web.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def role_users() -> dict[str, str]:
    """{role: the name of a user with that role} (each logs in with PASSWORD)."""
    return dict(ROLE_USERS)
