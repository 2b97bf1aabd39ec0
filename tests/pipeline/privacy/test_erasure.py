"""recall erase: no trace of the person's name, phone or email stays; counts stay right."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from pipeline.db import session_scope
from pipeline.inbound.answers import process_inbound_event
from pipeline.inbound.reply_codes import code_of
from pipeline.models import AuditEvent, Base, Case, FollowUpSend, Recipient, Response
from pipeline.privacy import audit
from pipeline.privacy.erasure import RecipientNotFound, erase_recipient
from pipeline.settings import get_settings
from tests import inbound_rows as rows

PHONE, EMAIL, NAME, EXTERNAL = "+14155559876", "zelda.quixote@example.org", "Zelda Quixote", "Z-42"


def _everything(engine: Engine) -> str:
    """Every value in every table, as text (JSON columns as stored)."""
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(row)) for table in Base.metadata.sorted_tables
            for row in conn.execute(table.select())
        )  # fmt: skip


def _history(engine: Engine) -> dict[str, int]:
    """The person's footprint: they answered in two campaigns, over SMS and email."""
    with session_scope(engine) as session:
        person = rows.recipient(session, phone=PHONE, email=EMAIL, name=NAME, external_id=EXTERNAL)
        bystander = rows.recipient(session)
        first = rows.case(session, rows.campaign(session), person)
        second = rows.case(session, rows.campaign(session), person)
        rows.case(session, rows.campaign(session), bystander)
        sms = rows.attempt(session, first)
        email = rows.attempt(session, second, channel="email")
        email.error_reason = f"550 5.1.1 <{EMAIL}>: mailbox full"
        session.add(
            FollowUpSend(
                key=f"{second.id}:confirmation",
                case_id=second.id,
                channel="email",
                kind="confirmation",
                status="failed",
                error_reason=f"550 <{EMAIL}> rejected",
            )
        )
        delivered = {"MessageSid": sms.provider_id, "MessageStatus": "delivered", "To": PHONE}
        unsubscribe = {"event": "unsubscribe", "email": EMAIL}
        events = [
            rows.inbound(session, "twilio", "sms_status", delivered),
            # Two open cases: the reply names the second's campaign by its code (issue 15).
            rows.sms(session, PHONE, f"{code_of(session, second.campaign)} Yes. {NAME}"),
            rows.inbound(session, "sendgrid", "email_event", unsubscribe),
            rows.sms(session, rows.recipient(session).phone or "", "no"),
        ]
        for event in events:
            process_inbound_event(session, event.id)
        return {
            "responses": session.scalar(select(func.count()).select_from(Response)) or 0,
            "cases": session.scalar(select(func.count()).select_from(Case)) or 0,
        }


def test_erase_leaves_no_personal_data(engine: Engine) -> None:
    counts = _history(engine)
    assert PHONE in _everything(engine) and EMAIL in _everything(engine)
    with session_scope(engine) as session:
        summary = erase_recipient(session, EXTERNAL, actor="test")
    assert (summary.cases, summary.responses) == (2, 2)  # one matched SMS, one unsubscribe
    assert summary.inbound_events == 3 and summary.attempts == 2
    dump = _everything(engine)
    for secret in (PHONE, PHONE[2:], EMAIL, "zelda", NAME, EXTERNAL):
        assert secret.lower() not in dump.lower(), secret
    with session_scope(engine) as session:
        person = session.scalars(select(Recipient).where(Recipient.erased_at.is_not(None))).one()
        assert person.sms_opted_out and person.email_opted_out and person.voice_opted_out
        # Anonymous counts stay: cases with their states, responses with their kinds.
        assert session.scalar(select(func.count()).select_from(Case)) == counts["cases"]
        assert session.scalar(select(func.count()).select_from(Response)) == counts["responses"]
        states = session.scalars(
            select(Case.state).where(Case.recipient_id == person.id).order_by(Case.id)
        ).all()
        assert states == ["awaiting_response", "completed"]
        kinds = session.scalars(select(Response.kind).order_by(Response.id)).all()
        assert kinds == ["agree", "opt_out", "refuse"]
        # The bystander's data is untouched.
        assert session.scalar(select(func.count()).where(Response.raw_text == "no")) == 1
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last is not None and last.action == "recipient.erase"
        assert last.entity == f"recipient:{person.id}"
        assert audit.verify(session).ok


def test_erase_unknown_recipient(engine: Engine) -> None:
    with session_scope(engine) as session, pytest.raises(RecipientNotFound):
        erase_recipient(session, "nobody", actor="test")


@pytest.fixture
def cli_database(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("RECALL_DATABASE_URL", str(sqlite_engine.url))
    get_settings.cache_clear()
    yield sqlite_engine
    get_settings.cache_clear()


def _recall(*args: str) -> tuple[int, str, str]:
    from cli.main import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_erase_leaves_nothing_in_the_database_file(cli_database: Engine) -> None:
    _history(cli_database)
    code, out, _ = _recall("erase", EXTERNAL)
    assert code == 0 and "2 responses" in out and "3 stored webhooks" in out
    cli_database.dispose()
    files = [Path(cli_database.url.database or "")]
    files += [Path(f"{files[0]}-wal")] if Path(f"{files[0]}-wal").exists() else []
    raw = b"".join(path.read_bytes() for path in files)
    assert PHONE.encode() not in raw and EMAIL.encode() not in raw and NAME.encode() not in raw


def test_cli_erase_unknown_recipient_fails(cli_database: Engine) -> None:
    code, _, err = _recall("erase", "nobody")
    assert code == 1 and "no recipient with external id 'nobody'" in err


def test_cli_audit_verify(cli_database: Engine) -> None:
    _history(cli_database)
    with session_scope(cli_database) as session:
        events = session.scalar(select(func.count()).select_from(AuditEvent))
    assert events and events >= 2
    code, out, _ = _recall("audit", "verify", "--heads")
    with session_scope(cli_database) as session:
        report = audit.verify(session)
    assert code == 0 and f"audit log intact: {events} events on 1 chain, head " in out
    assert report.head_hash in out and f"chain 0: {report.chain_heads[0]}" in out
    with cli_database.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_event SET actor = 'mallory' WHERE id = 2")
    code, _, err = _recall("audit", "verify")
    assert code == 1 and "BROKEN at event #2 (chain 0)" in err and "edited" in err


def test_cli_help() -> None:
    for command in (["erase", "--help"], ["audit", "verify", "--help"]):
        code, out, _ = _recall(*command)
        assert code == 0 and "Usage" in out


def test_erase_finds_webhooks_through_the_case_index_and_records_the_request(
    engine: Engine,
) -> None:
    from pipeline.models import ErasureRequest, InboundEvent

    with session_scope(engine) as session:
        person = rows.recipient(session, phone=PHONE, email=EMAIL, external_id=EXTERNAL)
        case = rows.case(session, rows.campaign(session), person)
        sent = rows.attempt(session, case)
        # No contact data in the payload: only the index ties it to the person.
        status = {"MessageSid": sent.provider_id, "MessageStatus": "delivered"}
        event = rows.inbound(session, "twilio", "sms_status", status)
        process_inbound_event(session, event.id)
        # Mentions the phone but belongs to nobody's case: not the person's to erase by index.
        stranger = rows.inbound(session, "twilio", "sms_status", {"To": PHONE, "x": "1"})
        event_id, stranger_id = event.id, stranger.id
    with session_scope(engine) as session:
        summary = erase_recipient(session, EXTERNAL, actor="test")
    with session_scope(engine) as session:
        assert summary.inbound_events == 1
        assert session.get(InboundEvent, event_id).payload == {"erased": True}  # type: ignore[union-attr]
        assert session.get(InboundEvent, stranger_id).payload != {"erased": True}  # type: ignore[union-attr]
        request = session.scalars(select(ErasureRequest)).one()
        assert request.recipient_id == summary.recipient_id and request.actor == "test"
        assert request.asked_at == request.done_at


def test_the_status_and_report_list_erasures_done_during_the_campaign(engine: Engine) -> None:
    from pipeline.reporting.metrics import campaign_status
    from pipeline.reporting.report import render_report

    with session_scope(engine) as session:
        campaign = rows.campaign(session)
        campaign.launched_at = campaign.created_at
        rows.case(session, campaign, rows.recipient(session, external_id=EXTERNAL))
        campaign_id = campaign.id
    with session_scope(engine) as session:
        summary = erase_recipient(session, EXTERNAL, actor="test")
    with session_scope(engine) as session:
        [erasure] = campaign_status(session, campaign_id)["erasures"]
        csv_text = render_report(session, campaign_id, "csv")
    assert erasure["recipient_id"] == summary.recipient_id and erasure["done_at"]
    assert "# erasures during the campaign: 1" in csv_text
