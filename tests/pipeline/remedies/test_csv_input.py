"""The remedy confirmations file: located errors, and no input that raises anything else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import InputError, InputErrors
from pipeline.remedies.confirm import Confirmation
from pipeline.remedies.csv_input import parse_completed_at, read_confirmations

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _read(tmp_path: Path, text: str | bytes) -> list[object]:
    path = tmp_path / "remedies.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return [verdict for _, _, verdict in read_confirmations(path, NOW)]


def _described(verdicts: list[object]) -> list[str]:
    return [e.describe().split("remedies.csv", 1)[1] for v in verdicts if isinstance(v, list)
            for e in v]  # fmt: skip


def test_good_rows_become_confirmations(tmp_path: Path) -> None:
    text = (
        "\ufeffexternal_id,completed_at,note\nu1,2026-03-01,swapped\nu2,2026-03-02T08:30+08:00,\n"
    )
    first, second = _read(tmp_path, text)
    assert first == Confirmation("u1", datetime(2026, 3, 1, tzinfo=UTC), "swapped", 2)
    assert second == Confirmation("u2", datetime(2026, 3, 2, 0, 30, tzinfo=UTC), "", 3)


def test_note_is_optional_and_columns_may_come_in_any_order(tmp_path: Path) -> None:
    [row] = _read(tmp_path, "completed_at,external_id\n2026-02-01T10:00,u9\n")
    assert isinstance(row, Confirmation) and row.external_id == "u9"


def test_each_bad_row_names_its_line_and_field(tmp_path: Path) -> None:
    text = (
        "external_id,completed_at,note\n"
        ",2026-03-01,\n"
        "u2,yesterday,\n"
        "u3,2027-01-01,\n"
        "u4,2026-03-01\n"
        "u5,2026-03-01,ok\n"
        "u5,2026-03-01,again\n"
    )
    assert _described(_read(tmp_path, text)) == [
        ":2: external_id: required",
        ":3: completed_at: not a date or date-time; write it like 2026-03-02 or 2026-03-02T14:30",
        ":4: completed_at: is in the future (2027-01-01T00:00:00+00:00)",
        ":5: expected 3 fields, found 2",
        ":7: external_id: duplicate external_id 'u5' (also on an earlier line)",
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file is empty; expected a header row"),
        ("external_id,when\n", "header: unknown column(s) when; allowed: external_id, "),
        ("external_id\nu1\n", "header: the completed_at column is required"),
    ],
)
def test_a_bad_header_is_reported_on_line_one(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises((InputError, InputErrors)) as caught:
        _read(tmp_path, text)
    assert reason in str(caught.value) and ":1:" in str(caught.value)


def test_dates_read_as_utc() -> None:
    assert parse_completed_at("2026-03-01T10:00", NOW) == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_completed_at(" 2026-03-01 ", NOW) == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="required"):
        parse_completed_at("", NOW)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=400) | st.text(max_size=400))
def test_no_file_raises_anything_but_a_located_error(tmp_path: Path, body: bytes | str) -> None:
    header = "external_id,completed_at,note\n"
    text = header.encode() + body if isinstance(body, bytes) else header + body
    try:
        verdicts = _read(tmp_path, text)
    except (InputError, InputErrors) as error:
        assert "remedies.csv" in str(error)
        return
    for verdict in verdicts:
        if isinstance(verdict, list):
            assert all(e.line is not None and e.line >= 2 for e in verdict)
        else:
            assert isinstance(verdict, Confirmation)
            assert verdict.completed_at <= NOW.replace(minute=5)
