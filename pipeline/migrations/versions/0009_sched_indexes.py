"""sched indexes: every scheduler job reads only what is due (issue 16)

Partial indexes that hold only the rows a job looks for, so a round costs the same at 10,000
cases as at 1,000,000: unclaimed cases by due time per campaign, claims by age (the expired
ones are lost messages), and open queries by answer-by time.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FREE = sa.text("enqueued_at IS NULL AND next_due_at IS NOT NULL")
_CLAIMED = sa.text("enqueued_at IS NOT NULL")
_QUERY_OPEN = sa.text("state = 'query_open'")


def upgrade() -> None:
    with op.batch_alter_table("recall_case", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_due_free",
            ["campaign_id", "next_due_at", "id"],
            unique=False,
            postgresql_where=_FREE,
            sqlite_where=_FREE,
        )
        batch_op.create_index(
            "ix_case_claimed",
            ["enqueued_at", "id"],
            unique=False,
            postgresql_where=_CLAIMED,
            sqlite_where=_CLAIMED,
        )
        batch_op.create_index(
            "ix_case_query_due",
            ["query_due_at"],
            unique=False,
            postgresql_where=_QUERY_OPEN,
            sqlite_where=_QUERY_OPEN,
        )


def downgrade() -> None:
    with op.batch_alter_table("recall_case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_query_due")
        batch_op.drop_index("ix_case_claimed")
        batch_op.drop_index("ix_case_due_free")
