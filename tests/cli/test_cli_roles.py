"""RECALL_CLI_ROLE: the CLI acts as admin unless told otherwise; a command that needs more
than the role it is given refuses (exit 3, one line naming the role), audited, and changes
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from pipeline.clock import utcnow
from pipeline.models import AuditEvent, Campaign, ErasureRequest, Recipient
from pipeline.settings import get_settings

# (command, arguments, role it needs)
COMMANDS = [
    ("pause", ["1"], "operator"),
    ("resume", ["1"], "operator"),
    ("cancel", ["1"], "operator"),
    ("launch", ["campaign.yaml", "--users", "users.csv"], "operator"),
    ("erase", ["u1"], "admin"),
]
LOWER = {"operator": ["viewer", "agent"], "admin": ["viewer", "agent", "operator"]}


@pytest.fixture
def database(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("RECALL_DATABASE_URL", str(sqlite_engine.url))
    get_settings.cache_clear()
    with Session(sqlite_engine) as session:
        session.add(Recipient(external_id="u1", name="Ann", phone="+14155550101"))
        session.add(
            Campaign(
                name="c",
                reason="other",
                description="d",
                remedy="r",
                deadline=utcnow() + timedelta(days=3),
                state="running",
                launched_at=utcnow(),
            )
        )
        session.commit()
    yield sqlite_engine
    get_settings.cache_clear()


def _recall(monkeypatch: pytest.MonkeyPatch, role: str | None, *args: str) -> tuple[int, str]:
    from cli.main import app

    if role is None:
        monkeypatch.delenv("RECALL_CLI_ROLE", raising=False)
    else:
        monkeypatch.setenv("RECALL_CLI_ROLE", role)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("command", "args", "needed", "role"),
    [(c, a, n, r) for c, a, n in COMMANDS for r in LOWER[n]],
)
def test_a_lower_role_is_refused_with_the_role_it_needs_and_audited(
    command: str,
    args: list[str],
    needed: str,
    role: str,
    database: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, err = _recall(monkeypatch, role, command, *args)
    assert code == 3
    assert err.strip() == (
        f"error: recall {command}: this needs the {needed} role; RECALL_CLI_ROLE is {role}"
    )
    with Session(database) as session:
        refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "cli.refused"))
        assert [e.data for e in refused] == [{"command": command, "role": role, "needs": needed}]
        assert session.scalar(select(Campaign.state)) == "running"
        assert session.scalar(select(Recipient.external_id)) == "u1"


def test_the_cli_acts_as_admin_by_default(
    database: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _recall(monkeypatch, None, "pause", "1")[0] == 0
    code, _ = _recall(monkeypatch, None, "erase", "u1", "--asked", "2026-01-05")
    assert code == 0
    with Session(database) as session:
        request = session.scalars(select(ErasureRequest)).one()
        assert request.asked_at.date().isoformat() == "2026-01-05"
        assert request.done_at is not None and request.done_at > request.asked_at


def test_an_operator_may_pause(database: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _recall(monkeypatch, "operator", "pause", "1")[0] == 0
    with Session(database) as session:
        assert session.scalar(select(Campaign.state)) == "paused"


@pytest.mark.parametrize("asked", ["yesterday", "2999-01-01"])
def test_a_bad_asked_date_is_one_line_and_erases_nothing(
    asked: str, database: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, err = _recall(monkeypatch, None, "erase", "u1", "--asked", asked)
    assert code == 2 and err.startswith("error: --asked:") and len(err.strip().splitlines()) == 1
    with Session(database) as session:
        assert session.scalar(select(Recipient.external_id)) == "u1"


def test_the_status_table_shows_the_purpose_as_plain_text() -> None:
    from rich.console import Console

    from cli.launch import status_view

    status = {
        "campaign_id": 1,
        "name": "c",
        "state": "running",
        "cases": 0,
        "rates": {"completion": 0.0, "reach": 0.0, "response": 0.0},
        "states": {},
        "responses": {},
        "channels": {},
        "cost_units": {},
        "cost": {"currency": "USD", "total": 0.0},
        "purpose": "Replace [bold]kettles[/bold]",
    }
    console = Console(record=True, width=120)
    console.print(status_view(status))
    assert "Purpose: Replace [bold]kettles[/bold]" in console.export_text()
