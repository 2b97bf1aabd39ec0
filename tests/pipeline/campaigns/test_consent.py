"""Consent and purpose: the users file's ``consent`` column (required for reason ``other``,
``legal_obligation`` by default for ``regulatory``), validated with located errors, stored
per recipient; the campaign's ``purpose``; both in the status JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.campaigns.consent import CONSENT_BASES, ConsentRule, consent_rule
from pipeline.campaigns.file import CampaignSpec, Reason, load_campaign_file
from pipeline.campaigns.launch import launch
from pipeline.campaigns.users import UserRow, read_users
from pipeline.errors import InputError, InputErrors
from pipeline.models import Campaign, Recipient
from pipeline.reporting.metrics import campaign_status

EXAMPLES = Path(__file__).parents[3] / "examples"
HEADER = "external_id,phone,consent\n"


def _users(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "users.csv"
    path.write_text(header + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def _spec(reason: str) -> CampaignSpec:
    spec = load_campaign_file(EXAMPLES / "campaign.yaml")
    return spec.model_copy(update={"reason": Reason(reason)})


def test_the_rule_follows_the_reason() -> None:
    assert consent_rule("other") == ConsentRule(required=True)
    assert consent_rule("regulatory").apply("") == "legal_obligation"
    assert consent_rule("product_quality").apply("") is None
    assert consent_rule("product_quality").apply(" Explicit ") == "explicit"
    with pytest.raises(ValueError, match="required for reason other"):
        consent_rule("other").apply("")
    with pytest.raises(ValueError, match="not a consent basis"):
        consent_rule("regulatory").apply("because")


def test_a_bad_or_missing_basis_is_an_error_naming_line_and_column(tmp_path: Path) -> None:
    path = _users(tmp_path, "u1,+14155550101,explicit", "u2,+14155550102,", "u3,+14155550103,x")
    verdicts = [v for _, _, v in read_users(path, "US", consent=consent_rule("other"))]
    assert verdicts[0] == UserRow(2, "u1", "", "+14155550101", None, "en", "UTC", 2, "explicit")
    errors = [(e.line, e.field) for v in verdicts[1:] for e in v]  # type: ignore[union-attr]
    assert errors == [(3, "consent"), (4, "consent")]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cell=st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t))
def test_any_consent_cell_is_a_basis_or_a_located_error(tmp_path: Path, cell: str) -> None:
    quoted = '"' + cell.replace('"', '""') + '"'
    path = _users(tmp_path, f"u1,+14155550101,{quoted}")
    for reason in ("other", "regulatory", "rule_change"):
        for _, _, verdict in read_users(path, "US", consent=consent_rule(reason)):
            if isinstance(verdict, UserRow):
                assert verdict.consent in (*CONSENT_BASES, None)
            else:
                assert all(isinstance(e, InputError) and e.line == 2 for e in verdict)


def test_launch_stores_the_basis_per_recipient(engine: Engine, tmp_path: Path) -> None:
    users = _users(tmp_path, "u1,+14155550101,contract", "u2,+14155550102,")
    campaign_id = launch(engine, _spec("regulatory"), users).campaign_id
    with Session(engine) as session:
        stored = dict(session.execute(select(Recipient.external_id, Recipient.consent)).all())
        status = campaign_status(session, campaign_id)
    assert stored == {"u1": "contract", "u2": "legal_obligation"}
    assert status["consent"]["contract"] == 1 and status["consent"]["legal_obligation"] == 1
    assert status["purpose"].startswith("Tell each KT-200 owner")


def test_an_other_recall_without_consent_imports_nothing(engine: Engine, tmp_path: Path) -> None:
    users = _users(tmp_path, "u1,+14155550101,explicit", "u2,+14155550102,")
    with pytest.raises(InputErrors) as caught:
        launch(engine, _spec("other"), users)
    assert [(e.line, e.field) for e in caught.value.errors] == [(3, "consent")]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0
        assert session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_a_file_without_the_column_still_launches(engine: Engine, tmp_path: Path) -> None:
    users = _users(tmp_path, "u1,+14155550101", header="external_id,phone\n")
    campaign_id = launch(engine, _spec("product_quality"), users).campaign_id
    with Session(engine) as session:
        assert session.scalar(select(Recipient.consent)) is None
        assert campaign_status(session, campaign_id)["consent"]["not_stated"] == 1


def test_recall_sends_only_its_notice_and_follow_ups() -> None:
    from types import SimpleNamespace

    from pipeline.notices.purpose import RECALL_FOLLOWUPS
    from pipeline.notices.templates import FOLLOWUP_KINDS, render_followup

    # Every kind render_followup accepts has a stated reason tied to the recall, and none else.
    assert set(FOLLOWUP_KINDS) == set(RECALL_FOLLOWUPS)
    with pytest.raises(ValueError, match="unknown follow-up kind"):
        render_followup("newsletter", SimpleNamespace())  # type: ignore[arg-type]


def test_purpose_is_free_text_with_a_located_limit(tmp_path: Path) -> None:
    source = (EXAMPLES / "campaign.yaml").read_text(encoding="utf-8")
    long = source.replace("purpose: ", "purpose: " + "x" * 2001 + " ", 1)
    path = tmp_path / "campaign.yaml"
    path.write_text(long, encoding="utf-8")
    with pytest.raises(InputErrors) as caught:
        load_campaign_file(path)
    [error] = caught.value.errors
    assert (
        error.field == "purpose"
        and error.line
        == source.splitlines().index(
            next(line for line in source.splitlines() if line.startswith("purpose:"))
        )
        + 1
    )
