"""Prices per cost unit, from settings.

A channel says what its cost is counted in (``ChannelSpec.cost_unit``: a segment, an email,
a call minute, a message); the price list prices those units, so the core never names a
channel. SMS segments may cost something else per destination country
(``RECALL_PRICE_SMS_SEGMENT_BY_COUNTRY="CN=0.05,GB=0.04"``): the country is the one of the
E.164 number the segment went to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers

from pipeline.errors import RecallError
from pipeline.settings import Settings, get_settings

# The cost unit that may be priced per destination country (a phone channel's segment).
COUNTRY_PRICED_UNIT = "segment"
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class BadPrice(RecallError):
    """A price setting that does not parse; the message names the setting and the entry."""


@dataclass(frozen=True)
class PriceList:
    currency: str
    per_unit: dict[str, float]
    # cost unit → {ISO country: price}; a country not listed pays ``per_unit``.
    by_country: dict[str, dict[str, float]] = field(default_factory=dict)

    def price(self, unit: str, country: str | None = None) -> float:
        """The price of one ``unit`` (sent to ``country``); 0 for a unit with no price."""
        special = self.by_country.get(unit, {})
        if country is not None and country in special:
            return special[country]
        return self.per_unit.get(unit, 0.0)

    def varies_by_country(self, unit: str) -> bool:
        return bool(self.by_country.get(unit))


def parse_country_prices(
    text: str, setting: str = "RECALL_PRICE_SMS_SEGMENT_BY_COUNTRY"
) -> dict[str, float]:
    """``"CN=0.05, GB=0.04"`` → ``{"CN": 0.05, "GB": 0.04}``; raises ``BadPrice`` naming
    the entry that is not ``COUNTRY=PRICE`` with a two-letter country and a price ≥ 0."""
    prices: dict[str, float] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        country, sep, amount = (part.strip() for part in entry.partition("="))
        country = country.upper()
        try:
            value = float(amount) if sep and _COUNTRY.match(country) else -1.0
        except ValueError:
            value = -1.0
        if not value >= 0 or value == float("inf"):
            raise BadPrice(f"{setting}: {entry!r} is not COUNTRY=PRICE (e.g. CN=0.05)")
        prices[country] = value
    return prices


def price_list(settings: Settings | None = None) -> PriceList:
    settings = settings or get_settings()
    return _price_list(
        settings.currency,
        settings.price_sms_segment,
        settings.price_email,
        settings.price_call_minute,
        settings.price_message,
        settings.price_sms_segment_by_country,
    )


@lru_cache(maxsize=8)
def _price_list(
    currency: str, segment: float, email: float, minute: float, message: float, by_country: str
) -> PriceList:
    return PriceList(
        currency=currency,
        per_unit={"segment": segment, "email": email, "min": minute, "message": message},
        by_country={COUNTRY_PRICED_UNIT: parse_country_prices(by_country)},
    )


@lru_cache(maxsize=4096)
def country_of(number_prefix: str | None) -> str | None:
    """The ISO country of an E.164 number (or of its first digits: calling codes are
    prefix-free, so ``+86…`` is CN); None when unknown. NANP (+1) numbers are the US."""
    digits = (number_prefix or "").removeprefix("+")
    for length in (1, 2, 3):
        if len(digits) < length or not digits[:length].isdigit():
            break
        region = phonenumbers.region_code_for_country_code(int(digits[:length]))
        if region != phonenumbers.UNKNOWN_REGION:
            return region
    return None
