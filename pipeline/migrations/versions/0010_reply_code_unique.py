"""reply code unique: no two active campaigns hold the same reply code

Two launches at the same moment could both pick the smallest free code, since neither saw
the other's campaign before it committed. A partial unique index on the codes of active
campaigns (draft, running, paused) lets only one keep it; the launch that loses retries with
another code (pipeline.inbound.reply_codes.with_free_code). A closed or cancelled campaign
is outside the index, so its code may be given again.

Codes already doubled by that race are resolved first: the earliest campaign keeps its
code, the later ones lose theirs and get a free one the next time a notice needs one
(``code_of``). Their replies were ambiguous anyway.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HOLDS_CODE = sa.text("state IN ('draft', 'running', 'paused')")

_UNDOUBLE = """
UPDATE campaign SET reply_code = NULL
WHERE state IN ('draft', 'running', 'paused') AND reply_code IS NOT NULL
  AND id NOT IN (SELECT min(id) FROM campaign
                 WHERE state IN ('draft', 'running', 'paused') AND reply_code IS NOT NULL
                 GROUP BY reply_code)
"""


def upgrade() -> None:
    op.execute(_UNDOUBLE)
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(
            "uq_campaign_active_reply_code",
            ["reply_code"],
            unique=True,
            postgresql_where=_HOLDS_CODE,
            sqlite_where=_HOLDS_CODE,
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index("uq_campaign_active_reply_code")
