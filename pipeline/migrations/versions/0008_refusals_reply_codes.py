"""refusals understood and per-campaign reply codes (slice 15b)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WITH_REASON = sa.text("refusal_reason IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_code", sa.String(length=8), nullable=True))
    with op.batch_alter_table("recall_case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refusal_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("refusal_text", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("refusal_reason_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_case_refusal_reason",
            ["campaign_id", "refusal_reason"],
            unique=False,
            postgresql_where=_WITH_REASON,
            sqlite_where=_WITH_REASON,
        )
    op.create_table(
        "refusal_demand",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("case_id", _BIG_ID, nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["recall_case.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_refusal_demand_open", "refusal_demand", ["closed_at", "opened_at"])
    op.create_table(
        "pending_reply",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("raw_text", sa.Text(), nullable=False),
        sa.Column("inbound_event_id", _BIG_ID, nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("case_id", _BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(["inbound_event_id"], ["inbound_event.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["recall_case.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pending_reply_phone", "pending_reply", ["phone", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_pending_reply_phone", table_name="pending_reply")
    op.drop_table("pending_reply")
    op.drop_index("ix_refusal_demand_open", table_name="refusal_demand")
    op.drop_table("refusal_demand")
    with op.batch_alter_table("recall_case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_refusal_reason")
        batch_op.drop_column("refusal_reason_at")
        batch_op.drop_column("refusal_text")
        batch_op.drop_column("refusal_reason")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("reply_code")
