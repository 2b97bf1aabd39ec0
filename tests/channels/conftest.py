"""Real Case / Recipient / Campaign rows (SQLite) for the channel tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import SandboxThread
from pipeline.db import session_scope
from pipeline.models import Campaign, Case, Recipient
from pipeline.settings import get_settings
from tests.channels.channels_testkit import ACCOUNT_SID, AUTH_TOKEN, Receiver

DEADLINE = datetime(2030, 3, 31, 16, 0, tzinfo=UTC)
_ids = itertools.count(1)

MakeCase = Callable[..., Case]


@pytest.fixture
def make_case(sqlite_engine: Engine) -> MakeCase:
    """Inserts a campaign, a recipient and their case; returns the loaded case."""

    def make(
        *,
        locale: str = "en",
        reason: str = "product_quality",
        phone: str | None = "+15551230001",
        email: str | None = "ada@example.com",
        name: str = "Ada",
        timezone: str = "Europe/London",
        templates: dict[str, Any] | None = None,
        help_text: str = "",
        description: str = "KX kettles sold in 2029 with serial numbers starting 41",
        remedy: str = "Stop using the kettle and return it to any store for a refund",
    ) -> Case:
        n = next(_ids)
        with session_scope(sqlite_engine) as session:
            campaign = Campaign(
                name=f"Kettle KX-{n}",
                reason=reason,
                description=description,
                remedy=remedy,
                help_text=help_text,
                spec={"templates": templates or {}},
                deadline=DEADLINE,
                state="running",
            )
            recipient = Recipient(
                external_id=f"u-{n}",
                name=name,
                phone=phone,
                email=email,
                locale=locale,
                timezone=timezone,
            )
            session.add_all([campaign, recipient])
            session.flush()
            case = Case(campaign_id=campaign.id, recipient_id=recipient.id, state="pending")
            session.add(case)
            session.flush()
            case_id = case.id
        with session_scope(sqlite_engine) as session:
            loaded = session.get(Case, case_id)
            assert loaded is not None
            session.expunge_all()
            return loaded

    return make


# -- the provider sandbox and a stand-in for our web app ------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def sandbox(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxThread]:
    """The sandbox on a free port, our settings pointing the real clients at it, and its
    callbacks going to ``receiver``. Immediate: no delays. Users silent unless a test says."""
    config = SandboxConfig(
        public_url=receiver.url, twilio_auth_token=AUTH_TOKEN, immediate=True, users=False, seed=7
    )
    with SandboxThread(config) as running:
        for name, value in running.settings_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RECALL_PUBLIC_URL", receiver.url)
        monkeypatch.setenv("RECALL_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        get_settings.cache_clear()
        yield running
    get_settings.cache_clear()
