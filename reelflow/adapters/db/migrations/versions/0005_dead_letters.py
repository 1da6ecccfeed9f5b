"""dead letters: a count of failed backfill runs per asset

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:30:00.000000

assets.backfill_failures: how many backfill runs in a row failed to import this asset since
it was last stored, imported from a new URL or re-armed by `reelflow retry`. At
REELFLOW_BACKFILL_MAX_FAILURES (or at once, on an error that cannot go away) the backfill
gives up: the asset's status becomes `abandoned` and no backfill claims it again.
`attempts` keeps its meaning: every attempt of every run, retries included.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(
            sa.Column(
                "backfill_failures", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("backfill_failures")
