"""Per-campaign reply codes: the right case for every SMS reply when one phone has several.

The rule (README "Replies when a number has several recalls"):

- Every campaign gets a short code at launch (``10``–``999``; one digit is left to the
  answers ``1``/``2`` and the refusal reasons), unique among active campaigns (draft,
  running, paused); a closed or cancelled campaign's code may be given again.
- A case is *open for an answer* when it was notified and is not settled: notifying,
  awaiting a response, refused (may still agree) or with a query open. When a phone has
  another such case, the SMS notice carries the campaign's code ("Reply YES 42").
- A reply that starts or ends with the code of one of the phone's cases ("YES 42",
  "42 YES", "是 42") goes to that campaign's case, whatever else is open. One phone with a
  single open case needs no code, but one is accepted.
- A bare agree / refuse / question that could belong to several open cases is not guessed:
  it is held (``pending_reply``) and the person is asked which recall they mean, with each
  recall's name and code. A reply that is only the code then applies the held answer to
  that campaign's case. STOP, START and HELP need no code (they apply to the number).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from pipeline.cases.states import CaseState
from pipeline.models import Campaign, Case, PendingReply, Recipient

ACTIVE_CAMPAIGN_STATES = ("draft", "running", "paused")
OPEN_FOR_ANSWER = (
    CaseState.NOTIFYING.value,
    CaseState.AWAITING_RESPONSE.value,
    CaseState.REFUSED.value,
    CaseState.QUERY_OPEN.value,
)
FIRST_CODE, LAST_CODE = 10, 999
# A lost race makes the winner's code visible, so each retry picks another; the bound only
# stops a loop if something else keeps failing on the same index.
CODE_TRIES = 20
T = TypeVar("T")
# A code is a whole number of 2-3 digits at the start or the end of the reply.
_LEADING = re.compile(r"^\s*#?(\d{2,3})(?![\d])\s*(.*)$", re.DOTALL)
_TRAILING = re.compile(r"^(.*?)(?<![\d])#?(\d{2,3})\s*[.!。！]?\s*$", re.DOTALL)


def free_reply_code(conn: Connection | Session) -> str:
    """The smallest code no active campaign holds."""
    taken = set(
        conn.execute(
            select(Campaign.reply_code).where(
                Campaign.state.in_(ACTIVE_CAMPAIGN_STATES), Campaign.reply_code.is_not(None)
            )
        ).scalars()
    )
    for number in range(FIRST_CODE, LAST_CODE + 1):
        if str(number) not in taken:
            return str(number)
    raise RuntimeError("every reply code 10-999 is held by an active campaign")


def with_free_code(conn: Connection | Session, write: Callable[[str], T]) -> T:
    """``write(code)`` with the smallest free code, in a SAVEPOINT. Two transactions can
    both see a code free (neither sees the other's uncommitted campaign); the partial unique
    index on active campaigns' codes (``uq_campaign_active_reply_code``) lets only one
    keep it, and the other — its savepoint rolled back, its transaction intact — tries the
    next free code, which now excludes the winner's."""
    for _ in range(CODE_TRIES):
        code = free_reply_code(conn)
        try:
            with conn.begin_nested():
                return write(code)
        except IntegrityError as error:
            if "reply_code" not in str(error.orig):
                raise
    raise RuntimeError(f"no free reply code after {CODE_TRIES} tries")


def code_of(session: Session, campaign: Campaign) -> str:
    """The campaign's code, given now if it has none (launched before codes existed)."""
    if campaign.reply_code is None:

        def give(code: str) -> str:
            campaign.reply_code = code
            session.flush()
            return code

        return with_free_code(session, give)
    return campaign.reply_code


def split_code(text: str) -> tuple[str | None, str]:
    """(code, the rest of the reply) when the reply starts or ends with a 2-3 digit number,
    else (None, the reply)."""
    normal = unicodedata.normalize("NFKC", text)
    leading = _LEADING.match(normal)
    if leading:
        return leading.group(1), leading.group(2).strip()
    trailing = _TRAILING.match(normal)
    if trailing:
        return trailing.group(2), trailing.group(1).strip()
    return None, text


def open_cases(session: Session, phone: str) -> list[Case]:
    """The phone's cases open for an answer, most recently notified first."""
    return list(
        session.scalars(
            select(Case)
            .join(Recipient, Recipient.id == Case.recipient_id)
            .where(
                Recipient.phone == phone,
                Case.state.in_(OPEN_FOR_ANSWER),
                Case.last_notified_at.is_not(None),
            )
            .order_by(Case.last_notified_at.desc(), Case.id.desc())
        ).unique()
    )


def case_by_code(cases: Sequence[Case], code: str | None) -> Case | None:
    return next((c for c in cases if code is not None and c.campaign.reply_code == code), None)


def phone_cases(session: Session, phone: str) -> list[Case]:
    """Every case of the phone that is not final, for matching a code."""
    return list(
        session.scalars(
            select(Case)
            .join(Recipient, Recipient.id == Case.recipient_id)
            .where(
                Recipient.phone == phone,
                Case.state.not_in(
                    [CaseState.COMPLETED.value, CaseState.OPTED_OUT.value,
                     CaseState.CANCELLED.value]
                ),
            )
            .order_by(Case.id)
        ).unique()
    )  # fmt: skip


_HINT = {
    "en": " More than one recall is open for your number: add {code} to your reply (YES {code}).",
    "zh-CN": "您有多个召回事项：请在回复中加上编号{code}（如“同意 {code}”）。",
}
_WHICH_LINE = {"en": "{name}: reply YES {code}, NO {code} or your question with {code}",
               "zh-CN": "{name}：回复“同意 {code}”或“不同意 {code}”"}  # fmt: skip


# The code a notice must carry, read while the sender's session was open (the notice is
# rendered after it closed, outside the transaction): case → code, or None for no code.
_NOTED: WeakKeyDictionary[Case, str | None] = WeakKeyDictionary()


def code_needed(session: Session, case: Case) -> str | None:
    """The campaign's code when the case's phone has another case open for an answer."""
    phone = case.recipient.phone
    if not phone or not any(c.id != case.id for c in open_cases(session, phone)):
        return None
    return code_of(session, case.campaign)


def note_code_needed(session: Session, case: Case) -> None:
    """Read now, for a notice rendered once ``session`` has closed (``notice_hint``)."""
    _NOTED[case] = code_needed(session, case)


def notice_hint(case: Case, locale: str) -> str:
    """What an SMS notice adds when the phone has another open case: the campaign's code."""
    session = object_session(case)
    code = code_needed(session, case) if session is not None else _NOTED.get(case)
    return _HINT.get(locale, _HINT["en"]).format(code=code) if code else ""


# The recalls a "which one?" follow-up lists, read while the sender's session was open.
_LISTED: WeakKeyDictionary[Case, list[tuple[str, str]]] = WeakKeyDictionary()


def open_recalls(session: Session, case: Case) -> list[tuple[str, str]]:
    """(name, code) of each recall open for an answer on the case's phone."""
    phone = case.recipient.phone
    if not phone:
        return []
    return [(c.campaign.name, code_of(session, c.campaign)) for c in open_cases(session, phone)]


def note_open_recalls(session: Session, case: Case, kind: str) -> None:
    """Read now, for a ``which_campaign`` follow-up rendered once ``session`` has closed."""
    if kind == "which_campaign":
        _LISTED[case] = open_recalls(session, case)


def which_recalls(case: Case, locale: str) -> str:
    """The recalls open for the case's phone, each with its code (the ``which_campaign``
    follow-up's list)."""
    session = object_session(case)
    listed = open_recalls(session, case) if session is not None else _LISTED.get(case, [])
    line = _WHICH_LINE.get(locale, _WHICH_LINE["en"])
    separator = "；" if locale == "zh-CN" else "; "
    return separator.join(line.format(name=name, code=code) for name, code in listed)


def hold_reply(
    session: Session,
    *,
    phone: str,
    channel: str,
    kind: str,
    raw_text: str,
    inbound_event_id: int | None,
    now: datetime,
) -> PendingReply:
    """Keep an answer that could belong to several cases until the person names one; an
    earlier held answer of the phone is replaced (the latest answer is what they meant)."""
    for older in _held(session, phone):
        older.resolved_at = now
    held = PendingReply(
        phone=phone,
        channel=channel,
        kind=kind,
        raw_text=raw_text[:4000],
        inbound_event_id=inbound_event_id,
        received_at=now,
    )
    session.add(held)
    session.flush()
    return held


def take_held(session: Session, phone: str, case: Case, now: datetime) -> PendingReply | None:
    """The phone's held answer, now resolved to ``case``; None when nothing is held."""
    held = _held(session, phone)
    if not held:
        return None
    latest = held[0]
    for row in held:
        row.resolved_at = now
    latest.case_id = case.id
    return latest


def drop_held(session: Session, phone: str, now: datetime) -> None:
    """A new answer with its code supersedes what was held."""
    for row in _held(session, phone):
        row.resolved_at = now


def _held(session: Session, phone: str) -> list[PendingReply]:
    return list(
        session.scalars(
            select(PendingReply)
            .where(PendingReply.phone == phone, PendingReply.resolved_at.is_(None))
            .order_by(PendingReply.received_at.desc(), PendingReply.id.desc())
        )
    )
