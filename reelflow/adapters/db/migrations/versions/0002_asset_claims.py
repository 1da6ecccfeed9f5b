"""asset claims for concurrent backfills

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 13:00:00.000000

assets.claimed_at: set while a backfill worker owns the row. Claims are taken with
SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite has a single writer) and released at
the end of each batch; a claim older than reelflow.core.rules.CLAIM_TTL counts as abandoned.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
