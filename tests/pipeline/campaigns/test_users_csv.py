from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.campaigns.users import (
    UserRow,
    normalise_email,
    normalise_locale,
    read_users,
    validated_e164,
)
from pipeline.errors import InputError, InputErrors

EXAMPLES = Path(__file__).parents[3] / "examples"
HEADER = "external_id,name,phone,email,locale,timezone,risk_tier\n"


def write(tmp_path: Path, body: str, *, bom: bool = False, name: str = "users.csv") -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (HEADER + body).encode())
    return path


def verdicts(path: Path, region: str = "US") -> list[UserRow | list[InputError]]:
    return [verdict for _, _, verdict in read_users(path, region)]


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+1 (212) 555-0143", "US", "+12125550143"),
        ("212.555.0143", "US", "+12125550143"),
        ("07911 123456", "GB", "+447911123456"),
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86 138 0013 8000", "US", "+8613800138000"),
    ],
)
def test_phones_become_e164_using_the_default_region(raw: str, region: str, e164: str) -> None:
    assert validated_e164(raw, region) == e164


@pytest.mark.parametrize("raw", ["12", "+1 555 12", "hello", "+99 123456789"])
def test_bad_phones(raw: str) -> None:
    with pytest.raises(ValueError):
        validated_e164(raw, "US")


def test_emails_are_normalised_without_dns() -> None:
    assert normalise_email("Ann.Lee@EXAMPLE.Com") == "Ann.Lee@example.com"
    # A non-ASCII local part takes the full email-validator path.
    assert normalise_email("张伟@example.cn") == "张伟@example.cn"
    for bad in ("no-at-sign", "a@b", "two..dots@example.com", "a@exa mple.com", "@example.com"):
        with pytest.raises(ValueError):
            normalise_email(bad)


def test_locales() -> None:
    assert normalise_locale("zh_cn") == "zh-CN"
    assert normalise_locale("EN-gb") == "en-GB"
    assert normalise_locale("") == "en"
    with pytest.raises(ValueError):
        normalise_locale("english!")


def test_utf8_with_bom_reads_the_first_column(tmp_path: Path) -> None:
    path = write(tmp_path, "u1,李娜,+8613800138000,,zh-CN,Asia/Shanghai,1\n", bom=True)
    (row,) = verdicts(path)
    assert isinstance(row, UserRow)
    assert (row.external_id, row.name, row.locale, row.risk_tier) == ("u1", "李娜", "zh-CN", 1)


def test_defaults_for_optional_columns(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("external_id,email\nu1,a@example.com\n")
    (row,) = verdicts(path)
    assert row == UserRow(2, "u1", "", None, "a@example.com", "en", "UTC", 2)


def test_every_bad_row_is_reported_with_line_and_column() -> None:
    bad = {}
    for line, _, verdict in read_users(EXAMPLES / "bad_users.csv", "US"):
        if not isinstance(verdict, UserRow):
            bad[line] = {(e.field, e.line) for e in verdict}
    assert bad == {
        3: {("phone", 3)},
        4: {("phone", 4)},
        5: {("email", 5)},
        6: {("timezone", 6)},
        7: {("risk_tier", 7)},
        8: {("external_id", 8)},
        9: {("external_id", 9)},
        10: {("locale", 10)},
        11: {(None, 11)},
    }


def test_several_errors_in_one_row_are_all_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "u1,x,12,nope,??,Mars/Base,9\n")
    (errors,) = verdicts(path)
    assert isinstance(errors, list)
    assert {e.field for e in errors} == {"phone", "email", "locale", "timezone", "risk_tier"}


def test_line_numbers_count_multiline_quoted_fields(tmp_path: Path) -> None:
    body = 'u1,"Line one\nline two",+12125550143,,en,UTC,2\nu2,x,,bad,en,UTC,2\n'
    path = write(tmp_path, body)
    lines = {line for line, _, v in read_users(path, "US") if not isinstance(v, UserRow)}
    assert lines == {4}


def test_invalid_utf8_is_reported_on_its_row(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(HEADER.encode() + b"u1,\xff\xfe,+12125550143,,en,UTC,2\n")
    (errors,) = verdicts(path)
    assert isinstance(errors, list) and "UTF-8" in errors[0].reason and errors[0].line == 2


def test_bad_header_names_line_one(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("id,phone_number\n1,2\n")
    with pytest.raises(InputErrors) as caught:
        list(read_users(path, "US"))
    assert all(e.line == 1 and e.field == "header" for e in caught.value.errors)
    assert "phone_number" in caught.value.describe()


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("")
    with pytest.raises(InputError, match="empty"):
        list(read_users(path, "US"))


def test_example_users_are_all_valid() -> None:
    rows = verdicts(EXAMPLES / "users.csv")
    assert len(rows) >= 30 and all(isinstance(r, UserRow) for r in rows)
    assert {r.locale for r in rows if isinstance(r, UserRow)} >= {"en-US", "zh-CN"}
