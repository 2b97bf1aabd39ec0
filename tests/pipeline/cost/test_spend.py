"""Cost in money: the status's ``cost`` recomputed by hand from the attempts and the price
settings, whatever the prices and the sends (on SQLite's rows and PostgreSQL's tallies)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.campaigns.file import parse_campaign
from pipeline.cost.prices import BadPrice, country_of, parse_country_prices
from pipeline.errors import InputErrors
from pipeline.models import Attempt, FollowUpSend
from pipeline.reporting.metrics import campaign_status
from pipeline.settings import Settings, get_settings
from tests.pipeline_factories import NOW, make_campaign, make_case

EXAMPLES = Path(__file__).parents[3] / "examples"
# (number prefix, ISO country): each test case's phone starts with one of these.
PHONES = [("+8613800", "CN"), ("+4477009", "GB"), ("+1555123", "US")]
UNIT = {"sms": "segment", "email": "email", "voice": "min", "whatsapp": "message"}
PRICE_FIELD = {
    "segment": "price_sms_segment",
    "email": "price_email",
    "min": "price_call_minute",
    "message": "price_message",
}
money = st.decimals(min_value=0, max_value=2, places=4).map(float)
sends = st.lists(
    st.tuples(
        st.sampled_from(["sms", "email", "voice"]),
        st.decimals(min_value=0, max_value=20, places=2).map(float),  # units
        st.integers(0, len(PHONES) - 1),  # destination
        st.booleans(),  # a follow-up send rather than a notice
    ),
    max_size=12,
)


@contextmanager
def prices(values: dict[str, Any]) -> Iterator[None]:
    current = get_settings()
    before = {name: getattr(current, name) for name in values}
    try:
        for name, value in values.items():
            setattr(current, name, value)
        yield
    finally:
        for name, value in before.items():
            setattr(current, name, value)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    unit_prices=st.fixed_dictionaries({unit: money for unit in PRICE_FIELD}),
    cn=st.none() | money,
    gb=st.none() | money,
    attempts=sends,
    budget=st.none() | st.decimals(min_value="0.01", max_value=50, places=2).map(float),
)
def test_cost_is_units_times_prices(
    engine: Engine,
    unit_prices: dict[str, float],
    cn: float | None,
    gb: float | None,
    attempts: list[tuple[str, float, int, bool]],
    budget: float | None,
) -> None:
    by_country = {c: p for c, p in (("CN", cn), ("GB", gb)) if p is not None}
    values: dict[str, Any] = {PRICE_FIELD[u]: p for u, p in unit_prices.items()}
    values["price_sms_segment_by_country"] = ",".join(f"{c}={p}" for c, p in by_country.items())
    values["currency"] = "EUR"
    with prices(values), Session(engine) as session:
        campaign = make_campaign(session)
        campaign.spec = {"budget": budget} if budget else {}
        expected: dict[str, float] = {}
        reached = 0
        for n, (channel, units, where, follow_up) in enumerate(attempts):
            prefix, country = PHONES[where]
            case = make_case(session, campaign, n, phone=f"{prefix}0000")
            if n % 2 == 0:
                case.reached_at, reached = NOW, reached + 1
            row = FollowUpSend if follow_up else Attempt
            fields = {"key": f"k{campaign.id}-{n}", "kind": "reply"} if follow_up else {"step": 0}
            session.add(row(case_id=case.id, channel=channel, status="delivered",
                            cost_units=units, sent_at=NOW, **fields))  # fmt: skip
            unit = UNIT[channel]
            price = unit_prices[unit]
            if unit == "segment" and country in by_country:
                price = by_country[country]
            expected[channel] = expected.get(channel, 0.0) + units * price
        session.commit()
        cost = campaign_status(session, campaign.id)["cost"]
    total = sum(expected.values())
    assert cost["currency"] == "EUR"
    for channel, amount in expected.items():
        assert cost["per_channel"][channel] == pytest.approx(amount, abs=1e-5)
    assert cost["total"] == pytest.approx(total, abs=1e-5)
    assert cost["per_case_reached"] == (
        pytest.approx(total / reached, abs=1e-5) if reached else None
    )
    assert cost["per_completed_case"] is None and cost["per_answer"] is None  # none yet
    assert cost["budget"] == budget
    assert cost["budget_used"] == (pytest.approx(total / budget, abs=1e-5) if budget else None)


def test_per_completed_case_and_per_answer_divide_the_total(engine: Engine) -> None:
    fixed = {"price_sms_segment": 0.5, "price_sms_segment_by_country": ""}
    with prices(fixed), Session(engine) as session:
        campaign = make_campaign(session)
        for n in range(4):
            case = make_case(session, campaign, n)
            session.add(Attempt(case_id=case.id, channel="sms", step=0, status="delivered",
                                cost_units=2.0, sent_at=NOW))  # fmt: skip
            if n < 2:  # two answered, one of them completed
                case.state = "completed" if n == 0 else "refused"
                case.last_response, case.last_response_at = "agree", NOW
                case.answered_step, case.answered_channel = 0, "sms"
        session.commit()
        cost = campaign_status(session, campaign.id)["cost"]
    assert cost["total"] == 4.0
    assert (cost["per_completed_case"], cost["per_answer"]) == (4.0, 2.0)


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("+8613800000000", "CN"),
        ("+447700900000", "GB"),
        ("+15551230000", "US"),
        ("+7", "RU"),
        ("", None),
        (None, None),
        ("+", None),
        ("+999", None),
    ],
)
def test_country_of_a_number(number: str | None, country: str | None) -> None:
    assert country_of(number) == country


def test_country_prices_parse() -> None:
    assert parse_country_prices(" cn=0.05, GB=0.04 ,") == {"CN": 0.05, "GB": 0.04}
    assert parse_country_prices("") == {}


@given(st.text(max_size=40))
def test_country_prices_parse_or_name_the_entry(text: str) -> None:
    try:
        parsed = parse_country_prices(text)
    except BadPrice as error:
        assert "RECALL_PRICE_SMS_SEGMENT_BY_COUNTRY" in str(error)
    else:
        assert all(len(c) == 2 and price >= 0 for c, price in parsed.items())


def test_a_bad_country_price_is_refused_when_settings_load() -> None:
    with pytest.raises(ValueError, match="'CN=cheap' is not COUNTRY=PRICE"):
        Settings(price_sms_segment_by_country="GB=0.04,CN=cheap")


def test_the_campaign_budget_must_be_a_positive_amount() -> None:
    text = (EXAMPLES / "campaign.yaml").read_text() + "budget: -5\n"
    with pytest.raises(InputErrors) as raised:
        parse_campaign(text, source="campaign.yaml")
    lines = text.count("\n")
    assert f"campaign.yaml:{lines}: budget: Input should be greater than 0" in str(raised.value)
    assert parse_campaign(text.replace("-5", "250"), source="c.yaml").budget == 250.0


@given(st.text(max_size=60))
def test_any_country_price_text_is_read_or_refused_in_one_line(text: str) -> None:
    try:
        prices = parse_country_prices(text)
    except BadPrice as error:
        assert "RECALL_PRICE_SMS_SEGMENT_BY_COUNTRY" in str(error) and "\n" not in str(error)
    else:
        assert all(len(country) == 2 and price >= 0 for country, price in prices.items())
