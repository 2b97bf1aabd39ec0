"""Every kind of bad input a person can give `recall launch` gets one located line —
``FILE:LINE: FIELD: what is wrong (what to do)`` —, exit code 2, and leaves the database as
it was. Each of these used to end in a Python traceback (or, for templates, to be accepted
and fail later, while sending)."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from pipeline.db import engine_for
from pipeline.settings import get_settings

EXAMPLES = Path(__file__).parents[2] / "examples"
runner = CliRunner()
BASE = """\
name: Kettle recall
reason: product_quality
description: Kettles can overheat.
remedy: Stop using it.
deadline: 2030-12-31
escalation:
  - {channel: sms, wait: 24h}
"""
WRITE_IT = "write it like 2027-06-30 or 2027-06-30T17:00:00+02:00; without a zone it is UTC"
VARIABLES = (
    "callback_number, campaign, deadline, description, help_text, name, reason, reason_intro, "
    "reason_title, remedy, text"
)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("RECALL_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("RECALL_BROKER_URL", raising=False)
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    yield path
    engine_for(f"sqlite:///{path}").dispose()
    get_settings.cache_clear()


def rows(database: Path) -> tuple[int, int, int]:
    with sqlite3.connect(database) as db:
        return tuple(  # type: ignore[return-value]
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("campaign", "recipient", "recall_case")
        )


def launch(campaign: Path, users: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["launch", str(campaign), "--users", str(users)])
    return result.exit_code, result.stderr


def located(campaign: str, users_bytes: bytes | None, tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "c.yaml").write_text(campaign, encoding="utf-8")
    users = tmp_path / "u.csv"
    if users_bytes is None:
        users = EXAMPLES / "users.csv"
    else:
        users.write_bytes(users_bytes)
    return tmp_path / "c.yaml", users


CAMPAIGN_CASES = {
    "impossible quoted date": (
        BASE.replace("2030-12-31", '"2030-13-45"'),
        f"5: deadline: '2030-13-45' is not a date or datetime; {WRITE_IT}",
    ),
    "words for a deadline": (
        BASE.replace("2030-12-31", '"next friday"'),
        f"5: deadline: 'next friday' is neither a duration (28d) nor a date; {WRITE_IT}",
    ),
    "a number for a deadline": (
        BASE.replace("2030-12-31", "12"),
        f"5: deadline: expected a date or datetime; {WRITE_IT}",
    ),
    "a deadline past datetime's range": (
        BASE.replace("2030-12-31", "9999-12-31"),
        f"5: deadline: too far in the future (9999); {WRITE_IT}",
    ),
    "a past quoted deadline": (
        BASE.replace("2030-12-31", '"2020-01-01T10:00:00"'),
        "5: deadline: must be in the future (it is 2020-01-01T10:00:00+00:00)",
    ),
    "a bad follow_up.check_at": (
        BASE + 'follow_up: {target: 0.9, check_at: "someday"}\n',
        f"8: follow_up.check_at: 'someday' is not a date or datetime; {WRITE_IT}",
    ),
    "a wrong type": (
        BASE.replace("escalation:\n  - {channel: sms, wait: 24h}\n", "escalation: 5\n"),
        "6: escalation: Input should be a valid list "
        "(write a list of steps like - {channel: sms, wait: 24h})",
    ),
    "a python tag": (
        BASE + "help_text: !!python/object/apply:os.system ['true']\n",
        "8: the YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed "
        "(write a plain value)",
    ),
    "an alias bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(c)}: &{chr(c)} [{', '.join([f'*{chr(c - 1)}'] * 9)}]\n"
            for c in range(ord("b"), ord("k"))
        ),
        "1: more than 20000 values once anchors and aliases are expanded "
        "(write the values out, or remove the aliases)",
    ),
    "deep nesting": (
        "name: " + "[" * 3000 + "]" * 3000 + "\n",
        "1: nested more than 32 levels deep (a campaign needs a few)",
    ),
    "an unknown variable in a zh-CN notice": (
        BASE + "templates:\n  zh-CN:\n    sms: '{{ nickname }}'\n",
        f"10: templates.zh-CN.sms: unknown variable 'nickname' (use one of: {VARIABLES})",
    ),
    "a syntax error in an email subject": (
        BASE + "templates:\n  en:\n    email_subject: '{{ campaign '\n",
        "10: templates.en.email_subject: line 1: unexpected end of template, expected 'end of "
        "print statement'. (fix the Jinja2 syntax)",
    ),
    "an unknown variable in a follow-up": (
        BASE + "templates:\n  en-GB:\n    confirmation: 'Thanks {{ first_name }}'\n",
        "10: templates.en-GB.confirmation: unknown variable 'first_name' "
        f"(use one of: {VARIABLES})",
    ),
    "a runtime error in a template": (
        BASE + "templates:\n  en:\n    help: '{{ 1 / 0 }}'\n",
        "10: templates.en.help: cannot be rendered: ZeroDivisionError: division by zero "
        "(fix the template)",
    ),
    "a voice notice without its keypresses": (
        BASE + "templates:\n  en:\n    voice: '{{ reason_title }}: {{ description }} "
        "{{ remedy }} by {{ deadline }}'\n",
        "10: templates.en.voice: does not state how to answer (say which key agrees and which "
        "refuses: Press 1 / Press 2) — or, if it says so in its own words, mark it with "
        "{# states: … #}",
    ),
}


@pytest.mark.parametrize("kind", sorted(CAMPAIGN_CASES))
def test_bad_campaign_file_is_one_located_line(kind: str, database: Path, tmp_path: Path) -> None:
    text, expected = CAMPAIGN_CASES[kind]
    campaign, users = located(text, None, tmp_path)
    code, stderr = launch(campaign, users)
    assert code == 2
    assert stderr.strip() == f"error: {campaign}:{expected}"
    assert rows(database) == (0, 0, 0)


def test_a_notice_missing_policy_parts_names_each(database: Path, tmp_path: Path) -> None:
    sms = "Reply YES or NO by {{ deadline }}: {{ description }}"
    campaign, users = located(BASE + f"templates:\n  en:\n    sms: '{sms}'\n", None, tmp_path)
    code, stderr = launch(campaign, users)
    tail = " — or, if it says so in its own words, mark it with {# states: … #}"
    assert code == 2
    assert stderr.rstrip().splitlines() == [
        f"  {campaign}:10: templates.en.sms: does not state the reason for the recall "
        "(use {{ reason_title }} or {{ reason_intro }})" + tail,
        f"  {campaign}:10: templates.en.sms: does not state the remedy, what the user must do "
        "(use {{ remedy }})" + tail,
        f"error: {campaign}: the campaign's templates have 2 problem(s)",
    ]
    assert rows(database) == (0, 0, 0)


def test_a_huge_campaign_file_is_refused_unread(database: Path, tmp_path: Path) -> None:
    campaign = tmp_path / "c.yaml"
    campaign.write_text(BASE + "help_text: " + "x" * (1 << 20) + "\n")
    code, stderr = launch(campaign, EXAMPLES / "users.csv")
    assert code == 2
    assert stderr.strip() == (
        f"error: {campaign}: larger than 1024 KiB (is it the right file? a campaign file is a "
        "few KiB)"
    )


@pytest.mark.parametrize(
    ("deadline", "stored", "check_at"),
    [
        ('"2030-06-30"', "2030-06-30T23:59:59Z", "2030-06-30T00:00:00Z"),
        ("2030-06-30", "2030-06-30T23:59:59Z", "2030-06-30T00:00:00Z"),
        ('"2030-06-30T10:00:00"', "2030-06-30T10:00:00Z", "2030-06-30T10:00:00Z"),
        ("2030-06-30T10:00:00", "2030-06-30T10:00:00Z", "2030-06-30T10:00:00Z"),
        ('"2030-06-30T10:00:00+02:00"', "2030-06-30T10:00:00+02:00", "2030-06-30T10:00:00+02:00"),
        ('"2030-06-30 10:00:00Z"', "2030-06-30T10:00:00Z", "2030-06-30T10:00:00Z"),
    ],
)
def test_every_date_form_launches(
    deadline: str, stored: str, check_at: str, database: Path, tmp_path: Path
) -> None:
    """Quoted or not, with a zone or without (UTC): a deadline is the end of a bare date's
    day, a follow-up check its start."""
    text = BASE.replace("2030-12-31", deadline) + (
        f"follow_up: {{target: 0.9, check_at: {deadline}}}\n"
    )
    campaign, users = located(text, None, tmp_path)
    result = runner.invoke(app, ["launch", str(campaign), "--users", str(users), "--json"])
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(database) as db:
        (spec,) = db.execute("SELECT spec FROM campaign").fetchone()
    stored_spec = json.loads(spec)
    assert (stored_spec["deadline"], stored_spec["follow_up"]["check_at"]) == (stored, check_at)


USERS_CASES = {
    "an empty file": (b"", "1: the file is empty; expected a header row"),
    "a field past the csv module's limit": (
        b'external_id,phone\n1,"' + b"x" * 200_000 + b'"\n',
        "2: a field is longer than 131072 characters (is a quote left open? a field that "
        'starts with " runs to the next ")',
    ),
    "a NUL byte": (
        b"external_id,phone\n1,+12125550143\x00\n",
        "2: contains a NUL byte (is it a text file?)",
    ),
    "UTF-16": (
        "external_id,phone\n1,+12125550143\n".encode("utf-16"),
        "1: is UTF-16 text (save it as UTF-8; in Excel: CSV UTF-8)",
    ),
    "Latin-1": (
        b"external_id,name,phone\n1,Ren\xe9,+12125550143\n",
        "2: not valid UTF-8 text (save the file as UTF-8)",
    ),
}


@pytest.mark.parametrize("kind", sorted(USERS_CASES))
def test_bad_users_file_is_one_located_line(kind: str, database: Path, tmp_path: Path) -> None:
    content, expected = USERS_CASES[kind]
    campaign, users = located(BASE, content, tmp_path)
    code, stderr = launch(campaign, users)
    assert code == 2
    assert stderr.strip().splitlines()[-1] == f"error: {users}:{expected}"
    assert rows(database) == (0, 0, 0)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "missing.csv", "no such file (check the path)"),
        (lambda tmp: tmp, "is a folder (give the users file's path)"),
        (
            lambda tmp: tmp / "c.yaml" / "u.csv",
            "cannot read the file: Not a directory (check its permissions)",
        ),
    ],
    ids=["missing", "folder", "unreadable"],
)
def test_users_path_that_is_no_file(make, expected: str, database: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    campaign, _ = located(BASE, None, tmp_path)
    users = make(tmp_path)
    code, stderr = launch(campaign, users)
    assert code == 2
    assert stderr.strip() == f"error: {users}: {expected}"
    assert rows(database) == (0, 0, 0)


def test_mixed_line_endings_are_read_as_users(database: Path, tmp_path: Path) -> None:
    content = b"external_id,phone\r\n1,+12125550143\n2,+12125550144\r3,+12125550145\r\n"
    campaign, users = located(BASE, content, tmp_path)
    result = runner.invoke(app, ["launch", str(campaign), "--users", str(users), "--json"])
    assert result.exit_code == 0, result.stderr
    assert rows(database) == (1, 3, 3)
    assert "3/3" in result.stderr  # the progress total counts users, not lines


def test_campaign_file_that_is_no_file(database: Path, tmp_path: Path) -> None:
    code, stderr = launch(tmp_path, EXAMPLES / "users.csv")
    assert (code, stderr.strip()) == (
        2,
        f"error: {tmp_path}: is a folder (give the campaign file's path)",
    )
    assert os.path.exists(database) and rows(database) == (0, 0, 0)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["status", "0"],
            {},
            "error: recall status: Invalid value for 'campaign_id': Input should be greater "
            "than or equal to 1 (see `recall status --help`)",
        ),
        (
            ["report", str(2**64)],
            {},
            "error: recall report: Invalid value for 'campaign_id': Input should be less than "
            "or equal to 9223372036854775807 (see `recall report --help`)",
        ),
        (
            ["pause", "--", "-3"],
            {},
            "error: recall pause: Invalid value for 'campaign_id': Input should be greater "
            "than or equal to 1 (see `recall pause --help`)",
        ),
        (
            ["launch", "c.yaml"],
            {},
            "error: recall launch: Missing option '--users'. (see `recall launch --help`)",
        ),
        (
            ["status", "1"],
            {"RECALL_DUE_SCAN_INTERVAL": "soon"},
            "error: RECALL_DUE_SCAN_INTERVAL: Input should be a valid number, unable to parse "
            "string as a number (fix the environment variable or .env)",
        ),
        (
            ["status", "1"],
            {"RECALL_DATABASE_URL": "my database"},
            "error: RECALL_DATABASE_URL: 'my database' is not a database URL (write it like "
            "sqlite:///recall.db or postgresql://user@host/db)",
        ),
        (
            ["db", "upgrade", "latest"],
            {},
            "error: revision: Can't locate revision identified by 'latest' (use head, the default)",
        ),
    ],
    ids=[
        "id 0",
        "id past 64 bits",
        "negative id",
        "missing option",
        "bad setting",
        "bad url",
        "bad revision",
    ],
)
def test_usage_and_settings_mistakes_are_one_line(
    args: list[str],
    env: dict[str, str],
    expected: str,
    database: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.strip() == expected
    assert "Traceback" not in result.output
