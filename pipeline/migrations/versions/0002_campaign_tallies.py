"""campaign tallies: the PostgreSQL triggers that keep per-campaign counters

Written by hand (autogenerate cannot see triggers); the ``campaign_tally`` table itself is in
0001. On PostgreSQL this installs the triggers and counts the rows already stored; SQLite
keeps no tallies (pipeline.reporting.tallies).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from pipeline.reporting import tallies

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if tallies.kept_by(op.get_bind()):
        tallies.install(op.get_bind())


def downgrade() -> None:
    if tallies.kept_by(op.get_bind()):
        tallies.uninstall(op.get_bind())
