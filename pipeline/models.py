"""The stored data (see docs/DESIGN: recipient, campaign, case, attempt, inbound event,
response, audit event, metric snapshot). Timestamps are UTC everywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from pipeline.clock import as_utc, utcnow

# SQLite wants INTEGER PRIMARY KEY for autoincrement; PostgreSQL gets a BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes and always returns them aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class Recipient(Base):
    __tablename__ = "recipient"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    locale: Mapped[str] = mapped_column(String(16), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    risk_tier: Mapped[int] = mapped_column(Integer, default=2)
    # Suppression list: a STOP on one channel holds for every campaign.
    sms_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    email_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    voice_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # What the company relies on to contact this person (pipeline.campaigns.consent), as the
    # latest users file stated it; None: the file did not say and the reason sets no default.
    consent: Mapped[str | None] = mapped_column(String(24))


# The campaign states in which a reply code is held (pipeline.inbound.reply_codes).
_HOLDS_CODE = text("state IN ('draft', 'running', 'paused')")


class Campaign(Base):
    __tablename__ = "campaign"
    __table_args__ = (
        # Two launches at once can both see a code free: the database keeps one of them
        # from taking it (the other retries). A closed or cancelled campaign frees it.
        Index(
            "uq_campaign_active_reply_code",
            "reply_code",
            unique=True,
            postgresql_where=_HOLDS_CODE,
            sqlite_where=_HOLDS_CODE,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    remedy: Mapped[str] = mapped_column(Text)
    help_text: Mapped[str] = mapped_column(Text, default="")
    # The validated campaign file as launched: templates, tiers, quiet hours, waves.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The escalation policy frozen at launch: {"default": [step...], "tiers": {"1": [...]}}.
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    quiet_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    completion: Mapped[str] = mapped_column(String(16), default="on_agree")
    deadline: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    # Highest case id handed to the pipeline; lets fan-out resume after a crash.
    fan_out_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    launched_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # When the follow-up wave was checked (whether or not it sent a round): it runs once.
    follow_up_checked_at: Mapped[datetime | None]
    # The summary metrics written when the campaign closed at its deadline.
    final_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When the retention purge (pipeline.privacy.retention) cleared this closed campaign.
    purged_at: Mapped[datetime | None]
    # The short code a reply names this campaign by ("YES 42") when one phone has open
    # cases in several campaigns (pipeline.inbound.reply_codes); unique among active ones.
    reply_code: Mapped[str | None] = mapped_column(String(8))


class Case(Base):
    """One recipient in one campaign: the unit the completion rate counts."""

    __tablename__ = "recall_case"
    __table_args__ = (
        UniqueConstraint("campaign_id", "recipient_id", name="uq_case_campaign_recipient"),
        Index("ix_case_campaign_state", "campaign_id", "state"),
        Index("ix_case_due", "next_due_at"),
        Index("ix_case_recipient_notified", "recipient_id", "last_notified_at"),
        # The due-work sweep reads only what is due (pipeline.cases.sweep): unclaimed cases
        # by due time per campaign, and claims by age to find the expired ones. A fan-out's
        # fresh claims leave the first index, so a round never wades through them.
        Index(
            "ix_case_due_free",
            "campaign_id",
            "next_due_at",
            "id",  # the claim's order, ties included: no sort of every due row
            postgresql_where=text("enqueued_at IS NULL AND next_due_at IS NOT NULL"),
            sqlite_where=text("enqueued_at IS NULL AND next_due_at IS NOT NULL"),
        ),
        Index(
            "ix_case_claimed",
            "enqueued_at",
            "id",
            postgresql_where=text("enqueued_at IS NOT NULL"),
            sqlite_where=text("enqueued_at IS NOT NULL"),
        ),
        # The query-deadline check reads only open queries, by answer-by time.
        Index(
            "ix_case_query_due",
            "query_due_at",
            postgresql_where=text("state = 'query_open'"),
            sqlite_where=text("state = 'query_open'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipient.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(24), default="pending")
    # Index into the recipient's escalation ladder (the tier's steps) of the current step.
    step: Mapped[int] = mapped_column(Integer, default=0)
    # When the pipeline must next look at this case (send the step, escalate); null = nothing due.
    next_due_at: Mapped[datetime | None]
    # When work for this case was last handed to the broker; the sweep re-enqueues stale ones.
    enqueued_at: Mapped[datetime | None]
    last_response: Mapped[str | None] = mapped_column(String(16))
    last_response_at: Mapped[datetime | None]
    answered_channel: Mapped[str | None] = mapped_column(String(8))
    answered_step: Mapped[int | None]
    first_notified_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    reached_at: Mapped[datetime | None]
    query_due_at: Mapped[datetime | None]
    # Set when an open query passed query_due_at unanswered (flagged on the dashboard, alerted
    # once); a flag older than query_due_at belongs to an earlier query.
    query_overdue_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Why the person refused (pipeline.refusals): the reason's code, their own words (kept
    # for the agent, masked in logs) and when; a reason older than the latest answer
    # belongs to an earlier refusal, so the next reply is asked for again.
    refusal_reason: Mapped[str | None] = mapped_column(String(32))
    refusal_text: Mapped[str | None] = mapped_column(Text)
    refusal_reason_at: Mapped[datetime | None]

    campaign: Mapped[Campaign] = relationship(lazy="joined")
    recipient: Mapped[Recipient] = relationship(lazy="joined")


class Attempt(Base):
    """One send on one channel for one escalation step. (case, channel, step) is unique,
    which is what makes a redelivered message unable to text anyone twice."""

    __tablename__ = "attempt"
    __table_args__ = (
        UniqueConstraint("case_id", "channel", "step", name="uq_attempt_key"),
        Index("ix_attempt_provider_id", "provider_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("recall_case.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    step: Mapped[int] = mapped_column(Integer)
    # claimed → sent → (queued/sending/sent) → delivered | undelivered | failed;
    # permanent_failure when the provider refused it outright.
    status: Mapped[str] = mapped_column(String(24), default="claimed")
    provider_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_reason: Mapped[str | None] = mapped_column(Text)
    status_history: Mapped[list[Any]] = mapped_column(JSON, default=list)
    cost_units: Mapped[float] = mapped_column(Float, default=0.0)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When a worker took the attempt to call the provider (status "sending"): a worker that
    # dies mid-call leaves it there, and pipeline.cases.notify's stale-sending rule applies.
    sending_at: Mapped[datetime | None]
    # Provider calls made for this attempt across every retry path; bounded by settings.
    tries: Mapped[int] = mapped_column(Integer, default=0)


class FollowUpSend(Base):
    """One follow-up message (confirmation, acknowledgement, agent's answer). ``key`` is
    unique: a redelivered ``channel.send_followup`` finds its row and sends nothing."""

    __tablename__ = "followup_send"
    __table_args__ = (
        Index("ix_followup_case", "case_id"),
        # The outbox sweep looks only at follow-ups still waiting for their send.
        Index(
            "ix_followup_waiting",
            "claimed_at",
            postgresql_where=text("status = 'claimed'"),
            sqlite_where=text("status = 'claimed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("recall_case.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(32))
    # claimed → sending → sent | permanent_failure | failed | unconfirmed
    status: Mapped[str] = mapped_column(String(24), default="claimed")
    provider_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_reason: Mapped[str | None] = mapped_column(Text)
    cost_units: Mapped[float] = mapped_column(Float, default=0.0)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    sending_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


class InboundEvent(Base):
    """Every webhook exactly as received. The provider's event id is unique, so a retried
    webhook inserts nothing and enqueues nothing."""

    __tablename__ = "inbound_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(24))
    provider_event_id: Mapped[str] = mapped_column(String(128), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(String(64))
    # The case the event was matched to, filled at matching time: erasure and retention find
    # a person's stored webhooks through this (indexed), never by reading every payload.
    case_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # Set when the sweep hands a stuck event to the broker again (its message was lost).
    requeued_at: Mapped[datetime | None]


class Response(Base):
    """A classified answer. case_id is null when it matched no case: kept for operations."""

    __tablename__ = "response"
    __table_args__ = (Index("ix_response_case", "case_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("recall_case.id", ondelete="CASCADE"), index=False
    )
    inbound_event_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_event.id"))
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    raw_text: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str | None] = mapped_column(String(320))
    step: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Append-only and hash-chained: each row's hash covers its content, its chain and the
    previous row's hash on that chain, so `recall audit verify` finds any edit, insertion,
    deletion or move (pipeline/privacy/audit.py explains why there are several chains)."""

    __tablename__ = "audit_event"
    # A writer reads its chain's newest row before appending: an index lookup, not a scan.
    __table_args__ = (Index("ix_audit_chain_id", "chain", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chain: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class MetricSnapshot(Base):
    """A campaign's counters at a moment, for drawing the completion rate over time."""

    __tablename__ = "metric_snapshot"
    __table_args__ = (Index("ix_snapshot_campaign_at", "campaign_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    completion: Mapped[float] = mapped_column(Float)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)


class AgentReply(Base):
    """An agent's answer to a user's query, as sent (the inbox shows it in the thread)."""

    __tablename__ = "agent_reply"
    __table_args__ = (Index("ix_agent_reply_case", "case_id", "sent_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("recall_case.id", ondelete="CASCADE"))
    agent: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignTally(Base):
    """A delta to one of a campaign's counters, appended by PostgreSQL triggers and folded
    together by the scheduler (see pipeline.reporting.tallies): a counter is the sum of its rows."""

    __tablename__ = "campaign_tally"
    __table_args__ = (
        Index("ix_tally_campaign", "campaign_id"),
        # Folding looks only at campaigns with deltas appended since the last fold.
        Index("ix_tally_unfolded", "campaign_id", postgresql_where=text("NOT folded")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign key: the triggers append on every case change, and a key check would make
    # each of them share-lock the campaign row.
    campaign_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    delta: Mapped[float] = mapped_column(Float(precision=53))
    # False for a delta the triggers appended, true for a fold's sum.
    folded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class WebSession(Base):
    """A logged-in dashboard session, held server side so it can be ended: logout deletes
    the row, and a row whose user was removed or whose password changed (``credential`` no
    longer matches) is refused. The browser's cookie carries only a random token; its
    SHA-256 is the key, so a database dump yields no usable cookie."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_user", "user_name"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(128))
    # An HMAC of the user's entry in RECALL_DASHBOARD_USERS when the session began.
    credential: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LoginThrottle(Base):
    """Failed logins counted per user name (keyed by an HMAC, never the name typed) and per
    client address within a window; past a threshold, further tries wait (web.throttle)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_failed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Incident(Base):
    """A risk event (pipeline.incidents): one row per occurrence of a condition, from the
    check that first saw it to the one that saw it clear. ``detail`` is masked text."""

    __tablename__ = "incident"
    __table_args__ = (
        # At most one open incident per condition: a second scheduler cannot open a twin.
        Index(
            "uq_incident_open",
            "kind",
            "key",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        Index("ix_incident_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    notifications: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")


class RefusalDemand(Base):
    """A refusal whose reason is a demand (compensation, another remedy): an item in the
    agents' inbox until an agent closes it (pipeline.followups.demands)."""

    __tablename__ = "refusal_demand"
    __table_args__ = (Index("ix_refusal_demand_open", "closed_at", "opened_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("recall_case.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(128))


class PendingReply(Base):
    """A bare SMS answer that could belong to several open cases of one phone: held, not
    guessed, until the person names the campaign by its reply code
    (pipeline.inbound.reply_codes)."""

    __tablename__ = "pending_reply"
    __table_args__ = (Index("ix_pending_reply_phone", "phone", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    raw_text: Mapped[str] = mapped_column(Text, default="")
    inbound_event_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_event.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("recall_case.id", ondelete="SET NULL"))


# The refusal breakdown (``recall status``'s ``refusals``) reads only the cases with a reason.
Index(
    "ix_case_refusal_reason",
    Case.campaign_id,
    Case.refusal_reason,
    postgresql_where=text("refusal_reason IS NOT NULL"),
    sqlite_where=text("refusal_reason IS NOT NULL"),
)
# The failed-send spike check reads the attempts finished in its window (pipeline.incidents).
Index("ix_attempt_completed_at", Attempt.completed_at)


class ErasureRequest(Base):
    """One ``recall erase``: who asked, when, and when it was done (the report lists those
    done during a campaign). Holds no personal data: the recipient's row id only."""

    __tablename__ = "erasure_request"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recipient_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128), default="")


class Complaint(Base):
    """A question classified as a complaint (pipeline.complaints): its type, where it came
    from, its current stage and that stage's deadline. One per case: a case that complains
    again after its complaint closed reopens it."""

    __tablename__ = "complaint"
    __table_args__ = (Index("ix_complaint_opened", "opened_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("recall_case.id", ondelete="CASCADE"), unique=True
    )
    campaign_id: Mapped[int] = mapped_column(Integer, index=True)
    type: Mapped[str] = mapped_column(String(16))
    # "keywords" (classified automatically) or "agent".
    source: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(16), default="en")
    opened_at: Mapped[datetime]
    routed_at: Mapped[datetime]
    # When the current run of the clock began: routing, or the last reopening.
    clock_at: Mapped[datetime]
    stage: Mapped[str] = mapped_column(String(24), index=True)
    stage_at: Mapped[datetime]
    # By when the current stage must be done; null for a stage without a deadline.
    due_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None]


class ComplaintStep(Base):
    """One stage a complaint went through: who moved it there and when, the deadline it had
    to be done by, and whether it was done in time (the statistics' 'within deadline')."""

    __tablename__ = "complaint_step"
    __table_args__ = (Index("ix_complaint_step_complaint", "complaint_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    met: Mapped[bool | None] = mapped_column(Boolean)


class InboxClaim(Base):
    """An agent's hold on one inbox item (a case): the primary key makes taking it atomic,
    so two agents never answer the same one."""

    __tablename__ = "inbox_claim"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("recall_case.id", ondelete="CASCADE"), primary_key=True
    )
    agent: Mapped[str] = mapped_column(String(128))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditVerification(Base):
    """One run of ``recall audit verify``: when, and what it found (compliance reports the
    latest; the chain itself cannot hold it, since a broken chain is what it reports)."""

    __tablename__ = "audit_verification"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    checked: Mapped[int] = mapped_column(BigInteger, default=0)
    first_bad_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    head_hash: Mapped[str] = mapped_column(String(64), default="")


class RemedyConfirmation(Base):
    """A remedy the service centre (or another system, or an operator) says is done for a
    case: at most one per case, so a repeated confirmation is a no-op. ``without_agreement``
    marks a case that completed this way without ever having agreed (counted apart)."""

    __tablename__ = "remedy_confirmation"
    __table_args__ = (Index("ix_remedy_campaign", "campaign_id", "without_agreement"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("recall_case.id", ondelete="CASCADE"), unique=True
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    # When the remedy was done, as the confirmation says (not when we heard of it).
    completed_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    # import | api | dashboard
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    without_agreement: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class SatisfactionAnswer(Base):
    """The one satisfaction question a case is asked (``satisfaction: true``) and its 1-5
    score once answered. One row per case: the question is never asked twice."""

    __tablename__ = "satisfaction_answer"
    __table_args__ = (Index("ix_satisfaction_campaign", "campaign_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("recall_case.id", ondelete="CASCADE"), unique=True
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    # What the question was asked about: "case" (a completed case) or "complaint".
    subject: Mapped[str] = mapped_column(String(16), default="case")
    channel: Mapped[str] = mapped_column(String(8))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[int | None] = mapped_column(SmallInteger)
    answered_at: Mapped[datetime | None]
    # sms | link | keypress
    answered_via: Mapped[str | None] = mapped_column(String(16))
