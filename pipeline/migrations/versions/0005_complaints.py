"""complaints on the clock and the inbox's claims (pipeline.complaints, pipeline.followups)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "complaint",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("opened_at", _AT, nullable=False),
        sa.Column("routed_at", _AT, nullable=False),
        sa.Column("clock_at", _AT, nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("stage_at", _AT, nullable=False),
        sa.Column("due_at", _AT, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("closed_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["recall_case.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index("ix_complaint_opened", ["opened_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_campaign_id"), ["campaign_id"])
        batch_op.create_index(batch_op.f("ix_complaint_stage"), ["stage"])
    op.create_table(
        "complaint_step",
        sa.Column("id", _ID, nullable=False),
        sa.Column("complaint_id", _ID, nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", _AT, nullable=False),
        sa.Column("due_at", _AT, nullable=True),
        sa.Column("done_at", _AT, nullable=True),
        sa.Column("met", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("complaint_step", schema=None) as batch_op:
        batch_op.create_index("ix_complaint_step_complaint", ["complaint_id", "at"])
    op.create_table(
        "inbox_claim",
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=False),
        sa.Column("taken_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["recall_case.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id"),
    )


def downgrade() -> None:
    op.drop_table("inbox_claim")
    op.drop_table("complaint_step")
    op.drop_table("complaint")
