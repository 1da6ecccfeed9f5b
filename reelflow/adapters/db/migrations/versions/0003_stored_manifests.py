"""stored manifests

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:30:00.000000

manifests: the manifests submitted for import, content-addressed by the sha256 of their
canonical JSON. A flow run's parameter is that address, so a manifest of any size (up to
reelflow.core.manifest.MAX_EPISODES) fits Prefect's 512 KB parameter limit, and no temporary
URL's token lands in Prefect's database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "manifests",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("movie_id", sa.String(length=128), nullable=False),
        sa.Column("episodes", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_manifests")),
    )
    op.create_index(op.f("ix_manifests_movie_id"), "manifests", ["movie_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_manifests_movie_id"), table_name="manifests")
    op.drop_table("manifests")
