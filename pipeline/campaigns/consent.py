"""Consent: what the company relies on to contact each person (the users file's ``consent``
column), and the campaign's ``purpose``.

The bases are the lawful grounds a recall can rest on. A recall with reason ``other`` has no
obvious ground, so every row must state one; a ``regulatory`` recall rests on the regulator's
order, so a row without one is ``legal_obligation``; for the other reasons an empty cell
stays unstated (None), and the report counts it as such.
"""

from __future__ import annotations

from dataclasses import dataclass

CONSENT_BASES = ("explicit", "contract", "legal_obligation", "vital_interest")
NOT_STATED = "not_stated"  # how the report counts a person whose basis was not given


@dataclass(frozen=True)
class ConsentRule:
    """How a campaign's reason treats the column: must every row state a basis, and what
    does an empty cell mean."""

    required: bool = False
    default: str | None = None

    def apply(self, raw: str) -> str | None:
        """The row's basis, or ValueError naming what to write."""
        value = raw.strip().lower()
        if not value:
            if self.required:
                raise ValueError(
                    f"required for reason other; write one of {', '.join(CONSENT_BASES)}"
                )
            return self.default
        if value not in CONSENT_BASES:
            raise ValueError(f"not a consent basis; write one of {', '.join(CONSENT_BASES)}")
        return value


def consent_rule(reason: str) -> ConsentRule:
    """The rule for a campaign with ``reason``."""
    if reason == "other":
        return ConsentRule(required=True)
    if reason == "regulatory":
        return ConsentRule(default="legal_obligation")
    return ConsentRule()
