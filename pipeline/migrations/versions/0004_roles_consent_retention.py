"""roles, consent and retention: the consent basis per recipient, the case a stored webhook
was matched to (indexed, for erasure and retention), the erasure requests, and when a
closed campaign's personal data was purged

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent", sa.String(length=24), nullable=True))
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("inbound_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_id", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_inbound_event_case_id", ["case_id"], unique=False)
    op.create_table(
        "erasure_request",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("erasure_request", schema=None) as batch_op:
        batch_op.create_index("ix_erasure_request_done_at", ["done_at"], unique=False)
        batch_op.create_index("ix_erasure_request_recipient_id", ["recipient_id"], unique=False)


def downgrade() -> None:
    op.drop_table("erasure_request")
    with op.batch_alter_table("inbound_event", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_event_case_id")
        batch_op.drop_column("case_id")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.drop_column("consent")
