"""Asking the satisfaction question once, and recording its answer once.

The question is a ``satisfaction_answer`` row (unique per case) plus a follow-up in the
outbox (key ``satisfaction:<case id>``): asking twice writes nothing the second time. It
goes back on the channel the person answered on (a keypress's is answered by SMS), or the
first one that reaches them; nobody reachable is not asked.

A scheduler job asks completed cases of campaigns with ``satisfaction: true`` a little
after they complete (``RECALL_SATISFACTION_DELAY_SECONDS``, so the thank-you confirmation
arrives first), whichever way they completed (agreeing, a confirmed remedy).

**Which reply is a score.** A reply that is a number from 1 to 5 (``4``, ``５``, ``4/5``,
``5 stars``, ``4分``) is a score only when the case it belongs to has the question
pending: the case the reply is matched to (``pipeline.inbound.answers``), or, when that
case is closed or there is none, the phone's case asked most recently. While another
recall is still open on the same phone, its notice's ``1``/``2`` (agree/refuse) win — unless
the question was asked after that case's last notice: then the question is the latest
message that asked for a number, and a ``2`` sent to it is a score, not a refusal of the
other recall (a phone holding two campaigns, one completed and asked, meets this).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from pipeline.cases.events import follow_up_channel
from pipeline.cases.states import CaseState
from pipeline.db import dialect_of, insert_or_ignore
from pipeline.followups.outbox import StagedFollowUp
from pipeline.models import Campaign, Case, FollowUpSend, Recipient, SatisfactionAnswer
from pipeline.privacy import audit

KIND = "satisfaction_question"
SCORES = range(1, 6)


def wants_satisfaction(campaign: Campaign) -> bool:
    return bool((campaign.spec or {}).get("satisfaction"))


def ask_satisfaction(
    session: Session, case: Case, now: datetime, *, subject: str = "case"
) -> StagedFollowUp | None:
    """Ask ``case`` the question, once ever, if its campaign asks and the person can be
    reached; returns the follow-up to enqueue after commit (None: nothing to send).
    ``subject`` says what it is asked about (``case``, or ``complaint`` for slice 15c)."""
    if not wants_satisfaction(case.campaign):
        return None
    channel = follow_up_channel(case.recipient, case.answered_channel)
    # RETURNING, not rowcount: an ORM-enabled insert does not report a conflict's 0 rows.
    inserted = session.scalar(
        insert_or_ignore(SatisfactionAnswer, dialect_of(session), ["case_id"])
        .values(
            case_id=case.id, campaign_id=case.campaign_id, subject=subject[:16],
            channel=channel or "", asked_at=now,
        )
        .returning(SatisfactionAnswer.id)
    )  # fmt: skip
    if inserted is None or channel is None:
        return None
    key = f"satisfaction:{case.id}"
    session.execute(
        insert_or_ignore(FollowUpSend, dialect_of(session), ["key"]).values(
            key=key, case_id=case.id, channel=channel, kind=KIND, status="claimed",
            claimed_at=now, tries=0, cost_units=0.0,
        )
    )  # fmt: skip
    return StagedFollowUp(key, case.id, channel, KIND)


def stage_due_questions(
    session: Session, now: datetime, limit: int, *, delay: timedelta
) -> list[StagedFollowUp]:
    """Ask the completed cases not asked yet (at most ``limit``), of running campaigns that
    ask; enqueue the returned follow-ups after commit."""
    staged: list[StagedFollowUp] = []
    campaigns = session.scalars(select(Campaign).where(Campaign.state == "running"))
    for campaign in campaigns:
        if not wants_satisfaction(campaign) or len(staged) >= limit:
            continue
        asked = exists().where(SatisfactionAnswer.case_id == Case.id)
        cases = session.scalars(
            select(Case)
            .where(
                Case.campaign_id == campaign.id,
                Case.state == CaseState.COMPLETED.value,
                Case.closed_at <= now - delay,
                ~asked,
            )
            .order_by(Case.id)
            .limit(limit - len(staged))
        ).unique()
        for case in cases:
            question = ask_satisfaction(session, case, now)
            if question is not None:
                staged.append(question)
    return staged


def pending_question(
    session: Session, phone: str, matched: Case | None
) -> SatisfactionAnswer | None:
    """The question an SMS score from ``phone`` answers (see the module docstring)."""
    open_case = matched is not None and matched.state not in _CLOSED
    query = select(SatisfactionAnswer).where(
        SatisfactionAnswer.score.is_(None), SatisfactionAnswer.channel != ""
    )
    phone_cases = select(Case.id).join(Recipient, Recipient.id == Case.recipient_id)
    on_phone = SatisfactionAnswer.case_id.in_(phone_cases.where(Recipient.phone == phone))
    if matched is not None and open_case:
        # The open case keeps its digit unless the question came after its last notice:
        # then the question is the last thing that asked for a number.
        own = SatisfactionAnswer.case_id == matched.id
        notified = matched.last_notified_at
        query = query.where(
            own
            if notified is None
            else or_(own, and_(on_phone, SatisfactionAnswer.asked_at > notified))
        )
    else:
        query = query.where(on_phone)
    query = query.order_by(SatisfactionAnswer.asked_at.desc(), SatisfactionAnswer.id.desc())
    return session.scalars(query.limit(1).with_for_update()).first()


_CLOSED = frozenset(
    state.value
    for state in (
        CaseState.COMPLETED,
        CaseState.OPTED_OUT,
        CaseState.UNREACHABLE,
        CaseState.CANCELLED,
    )
)


def record_score(
    session: Session, question: SatisfactionAnswer, score: int, *, via: str, actor: str,
    now: datetime,
) -> bool:  # fmt: skip
    """Store the score once: a second answer to the same question changes nothing (the
    first one counts, as a questionnaire's would). False when it was already answered or
    the score is not 1-5."""
    if question.score is not None or score not in SCORES:
        return False
    question.score, question.answered_at, question.answered_via = score, now, via[:16]
    audit.record(
        session,
        actor=actor,
        action="satisfaction.answered",
        entity=f"case:{question.case_id}",
        data={"case_id": question.case_id, "campaign_id": question.campaign_id,
              "score": score, "via": via},
    )  # fmt: skip
    return True


def question_for_case(session: Session, case_id: int) -> SatisfactionAnswer | None:
    query = select(SatisfactionAnswer).where(SatisfactionAnswer.case_id == case_id)
    return session.scalars(query.with_for_update()).first()
