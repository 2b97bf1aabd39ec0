"""Each SendGrid event judged on its own: whatever a batch holds, an object is kept (with a
stable id, storable text) and anything else is dropped — never the batch's failure."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from web.webhooks import sendgrid_event

# Any text, lone surrogates and NULs included (what JSON can carry).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=12,
)
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in [*_texts(k), *_texts(v)]]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return []


@given(raw=json_values)
def test_any_event_is_kept_with_a_stable_id_or_dropped(raw: Any) -> None:
    event = sendgrid_event(raw)
    if not isinstance(raw, dict):
        assert event is None
        return
    assert event is not None
    assert re.fullmatch(r"[\x21-\x7e]{1,64}", event.provider_event_id)
    assert not any(UNSTORABLE.search(text) for text in _texts(event.payload))
    json.dumps(event.payload).encode("utf-8")  # storable as UTF-8 JSON
    again = sendgrid_event(json.loads(json.dumps(raw)))
    assert again is not None and again.provider_event_id == event.provider_event_id
