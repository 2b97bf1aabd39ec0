"""Whatever a person gives recall — a campaign file, a users file, a template — the answer is
a parsed result or a list of located errors, never any other exception."""

from __future__ import annotations

import csv
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from pipeline.campaigns.file import CampaignSpec, parse_campaign
from pipeline.campaigns.launch import launch
from pipeline.campaigns.staging import stage_users
from pipeline.campaigns.users import COLUMNS, count_users, read_users
from pipeline.errors import InputError, InputErrors
from pipeline.notices.check import template_errors
from pipeline.notices.templates import TEMPLATE_PARTS

NOW = datetime(2026, 11, 1, tzinfo=UTC)
KEYS = [
    *("name", "reason", "description", "remedy", "deadline", "escalation", "tiers"),
    *("quiet_hours", "override_quiet_hours", "completion", "templates", "help_text"),
    *("follow_up", "query_sla", "nonsense"),
    *("purpose", "budget", "refusal_reasons", "remedy_reminder", "satisfaction", "completion"),
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
    st.sampled_from(["2027-06-30", "2027-06-30T10:00:00", "28d", "24h", "sms", "email", "en"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from([*KEYS, "channel", "wait", "en", "sms", 1]), inner, max_size=4
        )
    ),
    max_leaves=12,
)
VALID: dict[str, Any] = {
    "name": "Kettle recall",
    "reason": "product_quality",
    "description": "Kettles can overheat.",
    "remedy": "Stop using it.",
    "deadline": date(2030, 12, 31),
    "escalation": [{"channel": "sms", "wait": "24h"}],
}


def parsed_or_located(text: str) -> None:
    try:
        result = parse_campaign(text, source="c.yaml", now=NOW)
    except InputError as error:
        assert error.path == "c.yaml" and error.reason
    except InputErrors as errors:
        assert errors.errors and all(e.path == "c.yaml" and e.reason for e in errors.errors)
    else:
        assert isinstance(result, CampaignSpec)


@SETTINGS
@given(st.text(max_size=400))
def test_any_text_as_a_campaign_file(text: str) -> None:
    parsed_or_located(text)


@SETTINGS
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=8), st.booleans())
def test_any_settings_in_a_campaign_file(changes: dict[str, Any], from_valid: bool) -> None:
    data = {**VALID, **changes} if from_valid else changes
    parsed_or_located(yaml.safe_dump(data, allow_unicode=True))


jinja_bits = st.sampled_from(
    [
        "{{ name }}",
        "{{ remedy }}",
        "{{ deadline }}",
        "{{ description }}",
        "{{ reason_title }}",
        "{{ agree_url }}",
        "{{ nope }}",
        "{{ ",
        "}}",
        "{% if name %}",
        "{% endif %}",
        "{# c #}",
        "{# states: reason, scope, remedy, deadline, answer #}",
        "Reply YES or NO",
        "Press 1 2",
        "{{ 1 / 0 }}",
        "{{ name | sentence }}",
        "{{ name | nofilter }}",
        "{% for x in %}",
        "同意",
        "{{ callback_number }}",
        "{{ text }}",
        "{{ name.x.y }}",
        "{{ remedy[0] }}",
    ]
)
templates = st.lists(st.one_of(jinja_bits, st.text(max_size=10)), max_size=6).map("".join)


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["en", "zh-CN", "en-GB", "fr", "zh_cn", "x y", "123"]),
        st.dictionaries(st.sampled_from(TEMPLATE_PARTS), templates, max_size=4),
        max_size=3,
    )
)
def test_any_templates_are_checked_not_crashed(own: dict[str, dict[str, str]]) -> None:
    spec = CampaignSpec.model_validate({**VALID, "templates": own})
    for location, problem in template_errors(spec):
        assert location[0] == "templates" and problem
    parsed_or_located(yaml.safe_dump({**VALID, "templates": own}, allow_unicode=True))


csv_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.lists(
            st.one_of(
                st.text(max_size=12),
                st.sampled_from(["+12125550143", "a@example.com", "\x00", '"', "\r", "\n", ","]),
            ),
            max_size=8,
        ),
        max_size=6,
    ).map(lambda rows: "\n".join(",".join(row) for row in rows).encode("utf-8", "replace")),
)
headers = st.sampled_from([b"", ",".join(COLUMNS).encode() + b"\n", b"external_id,phone\r\n"])


@SETTINGS
@given(headers, csv_bytes)
def test_any_bytes_as_a_users_file(header: bytes, body: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "users.csv"
        path.write_bytes(header + body)
        for read in (_read_all, _stage_all, count_users):
            try:
                read(path)
            except InputError as error:
                assert error.path == str(path) and error.reason
            except InputErrors as errors:
                assert all(e.path == str(path) and e.line == 1 for e in errors.errors)


def _read_all(path: Path) -> None:
    for line, _record, verdict in read_users(path, "US"):
        assert line >= 2
        if isinstance(verdict, list):
            assert all(e.line == line and e.reason for e in verdict)


def _stage_all(path: Path) -> None:
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as out:
        for chunk in stage_users(path, "US", out):
            assert all(errors for _, _, errors in chunk.bad)


def test_far_future_and_overflowing_durations_are_located() -> None:
    for wait in ("99999999999d", 10**30, float("inf")):
        data = {**VALID, "escalation": [{"channel": "sms", "wait": wait}]}
        parsed_or_located(yaml.safe_dump(data))
    data = {**VALID, "deadline": datetime(2030, 1, 1) + timedelta(days=1)}
    assert parse_campaign(yaml.safe_dump(data), source="c", now=NOW).deadline.tzinfo is not None


def column(*samples: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(samples), st.text(max_size=40))


row_values = st.tuples(
    column("x" * 300, "é" * 200, "\u202e", "=cmd|'/c calc'!A0", "Ada"),
    column("+12125550143", "212-555-0143", "+8613800100048", ""),
    column("a@example.com", "x" * 70 + "@example.com", ""),
    column("en", "zh_cn", "en-aaaaaaaa-bbbbbbbb", "zh-Hans-CN", ""),
    column("Europe/London", "America/Argentina/ComodRivadavia", ""),
    column("1", "2", "3", ""),
).map(list)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(row_values, min_size=1, max_size=5))
def test_any_rows_launch_or_are_located_on_either_database(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]]
) -> None:
    """Whatever passes validation also fits the database's columns (PostgreSQL enforces
    their lengths): a launch stores it or names the bad rows, never a database error."""
    path = tmp_path_factory.mktemp("users") / "users.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows([f"id-{i}", *row] for i, row in enumerate(rows))
    spec = CampaignSpec.model_validate(VALID, context={"now": NOW})
    try:
        report = launch(engine, spec, path, now=NOW)
    except InputErrors as errors:
        assert errors.errors and all(e.line and e.line >= 2 for e in errors.errors)
    except InputError as error:
        assert error.path == str(path)
    else:
        assert report.cases == len(rows)
