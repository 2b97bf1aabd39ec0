"""Masking phones and emails, the logging filter and the structured-log helper."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.privacy.masking import (
    MaskingFilter,
    configure_logging,
    log_event,
    mask_email,
    mask_phone,
    mask_text,
)


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+14155554567", "+1******4567"),
        ("+8613812345678", "+86*******5678"),
        ("+2012345678", "+20*****678"),
        ("+44 20 7946 0958", "+44******0958"),
        ("+85212345", "+852***45"),
        ("12345", "***45"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(phone: str | None, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("john@example.com", "j***@e***.com"),
        ("Mary.Smith@mail.co.uk", "M***@m***.uk"),
        ("x@localhost", "x***@l***"),
        ("not-an-email", "n***"),
        ("", ""),
    ],
)
def test_mask_email(email: str, masked: str) -> None:
    assert mask_email(email) == masked


@given(st.from_regex(r"\+[1-9][0-9]{9,13}", fullmatch=True))
def test_masked_phone_never_shows_the_middle(phone: str) -> None:
    masked = mask_phone(phone)
    digits = [c for c in masked if c.isdigit()]
    assert len(digits) <= len(phone) - 1 - 5  # at least five digits hidden
    assert masked.endswith(phone[-2:])
    assert phone not in masked


def test_mask_text_finds_phones_and_emails_but_not_dates() -> None:
    text = "call +1 (415) 555-4567 or john.doe@example.com on 2026-11-22 21:16:14, sid SM12345678"
    masked = mask_text(text)
    assert "555-4567" not in masked and "john.doe" not in masked
    assert "+1******4567" in masked and "j***@e***.com" in masked
    assert "2026-11-22 21:16:14" in masked and "SM12345678" in masked


def test_filter_masks_formatted_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.masking.filter")
    caplog.handler.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("reply from %s <%s>", "+14155554567", "jane@example.org")
    assert caplog.records[0].getMessage() == "reply from +1******4567 <j***@e***.org>"
    assert "4155554567" not in caplog.text and "jane@" not in caplog.text


def test_log_event_masks_fields_and_hides_bodies(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.masking.event")
    with caplog.at_level(logging.INFO, logger=logger.name):
        log_event(logger, "answer.matched", case_id=7, sender="+14155554567", body="YES please")
    record = caplog.records[0]
    assert record.event == "answer.matched"  # type: ignore[attr-defined]
    assert record.fields == {  # type: ignore[attr-defined]
        "case_id": 7,
        "sender": "+1******4567",
        "body": "<10 chars>",
    }
    assert record.getMessage() == "answer.matched case_id=7 sender=+1******4567 body=<10 chars>"


def test_configure_logging_masks_every_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers = []
    try:
        configure_logging("INFO")
        configure_logging("INFO")  # twice: still one handler, one filter
        assert len(root.handlers) == 1 and len(root.handlers[0].filters) == 1
        logging.getLogger("test.masking.configured").info("sent to %s", "+8613812345678")
        err = capsys.readouterr().err
        assert "+86*******5678" in err and "13812345678" not in err
    finally:
        root.handlers, root.level = saved_handlers, saved_level
