"""cdn purge queue

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 07:20:00.000000

cdn_purge_queue: CDN paths whose invalidation is owed (reelflow.adapters.cdn), written with
the database change that made them stale, drained by purge-objects.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cdn_purge_queue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("path", sa.String(length=1100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cdn_purge_queue"),
        sa.UniqueConstraint("path", name="uq_cdn_purge_queue_path"),
    )


def downgrade() -> None:
    op.drop_table("cdn_purge_queue")
