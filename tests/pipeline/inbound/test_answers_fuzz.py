"""Whatever a stored webhook holds, processing it never raises: it is handled, with an
outcome, and the transaction stays usable (an exception would make the actor retry forever)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.inbound.answers import process_inbound_event
from tests import inbound_rows as rows

KEYS = [
    "From", "To", "Body", "MessageSid", "MessageStatus", "ErrorCode", "CallSid", "CallStatus",
    "AnsweredBy", "Digits", "event", "email", "sg_message_id", "case_id", "attempt_id",
    "custom_args", "answer", "channel", "type", "status", "Called",
]  # fmt: skip
PLACEHOLDERS = ["$CASE", "$SMS_SID", "$CALL_SID", "$EMAIL_ID", "$PHONE", "$EMAIL"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=400)
    | st.sampled_from(PLACEHOLDERS)
    | st.sampled_from(["1", "2", "3", "9", "yes", "STOP", "delivered", "failed", "bounce",
                       "unsubscribe", "no-answer", "completed", "open"])
)  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
KIND_KEYS = {
    ("twilio", "sms"): ["From", "Body", "To", "MessageSid"],
    ("twilio", "sms_status"): ["MessageSid", "MessageStatus", "ErrorCode", "To"],
    ("twilio", "call_status"): ["CallSid", "CallStatus", "AnsweredBy", "To"],
    ("twilio", "keypress"): ["CallSid", "Digits", "To", "_query"],
    ("sendgrid", "email_event"): ["event", "case_id", "email", "sg_message_id", "type", "status"],
    ("link", "link_answer"): ["case_id", "answer", "text", "channel"],
}


WORDS = [
    "agree",
    "refuse",
    "query",
    "1",
    "2",
    "3",
    "9",
    "yes",
    "STOP",
    "start",
    "help",
    "queued",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "bounce",
    "dropped",
    "unsubscribe",
    "spamreport",
    "no-answer",
    "completed",
    "busy",
    "open",
    "processed",
]
ids = st.one_of(*[st.sampled_from(PLACEHOLDERS)] * 3, values)
words = st.one_of(*[st.sampled_from(WORDS)] * 3, values)
PLACEHOLDER_FOR = {
    "From": "$PHONE", "To": "$PHONE", "MessageSid": "$SMS_SID", "CallSid": "$CALL_SID",
    "case_id": "$CASE", "attempt_id": "$CASE", "sg_message_id": "$EMAIL_ID", "email": "$EMAIL",
}  # fmt: skip
KEY_VALUES = {
    **{key: st.one_of(*[st.just(ph)] * 4, ids) for key, ph in PLACEHOLDER_FOR.items()},
    **dict.fromkeys(["MessageStatus", "CallStatus", "event", "Digits", "answer"], words),
    # PostgreSQL refuses NUL in text columns; providers can still send one.
    "Body": st.one_of(st.sampled_from([*WORDS, "yes\x00", "\x00"]), st.text(max_size=200)),
}

# The callback URL's query parameters, as the web layer stores them.
KEY_VALUES["_query"] = st.fixed_dictionaries(
    {}, optional={"case_id": KEY_VALUES["case_id"], "case": values}
)


def _payload_for(kind: tuple[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly the keys this kind reads (so the handlers' own paths run), plus noise."""
    keys = KIND_KEYS.get(kind, KEYS)
    # The keys identifying the event and saying what happened are nearly always there.
    required = {key: KEY_VALUES.get(key, values) for key in keys[:2]}
    optional = {key: KEY_VALUES.get(key, values) for key in keys[2:]}
    known = st.fixed_dictionaries(required, optional=optional)
    noise = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), values, max_size=3)
    return st.tuples(known, noise).map(lambda pair: {**pair[1], **pair[0]})


custom = st.fixed_dictionaries(
    {}, optional={"case_id": KEY_VALUES["case_id"], "attempt_id": KEY_VALUES["attempt_id"]}
)
KINDS = [*sorted(KIND_KEYS), ("twilio", "fax")]  # an unknown kind is handled too


def _substitute(value: Any, known: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_substitute(v, known) for v in value]
    return known.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize("kind", KINDS, ids=["/".join(k) for k in KINDS])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), nested=custom)
def test_any_payload_is_handled(
    engine: Engine, kind: tuple[str, str], data: st.DataObject, nested: dict[str, Any]
) -> None:
    payload = data.draw(_payload_for(kind))
    with Session(engine) as session:
        case = rows.case(session, rows.campaign(session), rows.recipient(session))
        known = {
            "$CASE": case.id,
            "$SMS_SID": rows.attempt(session, case).provider_id,
            "$CALL_SID": rows.attempt(session, case, channel="voice").provider_id,
            "$EMAIL_ID": rows.attempt(session, case, channel="email").provider_id,
            "$PHONE": case.recipient.phone,
            "$EMAIL": case.recipient.email,
        }
        body = {k: _substitute(v, known) for k, v in payload.items()}
        if nested:
            body["custom_args"] = {k: _substitute(v, known) for k, v in nested.items()}
        event = rows.inbound(session, kind[0], kind[1], body)
        # Past the grace for early statuses: every event must now reach an outcome.
        event.received_at -= timedelta(hours=1)
        process_inbound_event(session, event.id)
        assert event.handled_at is not None and event.outcome
        session.flush()
        session.rollback()
