"""The campaign file's ``refusal_reasons``: a campaign's own list of why people refuse.

```yaml
refusal_reasons:
  - code: want_compensation          # a built-in reason: its labels and keywords apply
  - code: dealer_too_far
    label: {en: "The dealer is too far away", zh-CN: "经销商太远"}
    keywords: [dealer, far, 太远]
    demand: false                   # true: the reason asks something of us -> agent inbox
```

At most nine (each is one digit to reply with); ``other`` is added last when missing.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.refusals.catalogue import BUILT_IN, MAX_REASONS

LABEL_LOCALES = ("en", "zh-CN")


class RefusalReasonEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: dict[str, str] = Field(default_factory=dict)
    keywords: list[str] = Field(default_factory=list)
    demand: bool | None = None

    @model_validator(mode="after")
    def _labelled(self) -> Self:
        unknown = sorted(set(self.label) - set(LABEL_LOCALES))
        if unknown:
            raise ValueError(f"label: unknown locale {unknown[0]!r} (write en or zh-CN)")
        if self.code not in BUILT_IN and not self.label.get("en"):
            raise ValueError(
                f"{self.code!r} is not a built-in reason: give it a label, {{en: ...}}"
            )
        return self


def check_reasons(entries: list[RefusalReasonEntry] | None) -> list[RefusalReasonEntry] | None:
    """At most nine, each code once."""
    if entries is None:
        return None
    if len(entries) > MAX_REASONS:
        raise ValueError(f"at most {MAX_REASONS} reasons (each is one digit to reply with)")
    codes = [entry.code for entry in entries]
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    if repeated:
        raise ValueError(f"reason {repeated[0]!r} is listed twice")
    return entries
