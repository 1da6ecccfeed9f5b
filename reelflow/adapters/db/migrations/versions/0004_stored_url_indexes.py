"""indexes for the orphan sweep's URL lookups

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:00:00.000000

The orphan sweep looks every listing page up by a range of episode s3:// URLs, and counts a
bucket's references by their prefix; both scanned the whole episodes table. Each current URL
column gets a partial B-tree index over stored (s3://) URLs only: a temporary URL can be
longer than a B-tree row allows, a stored one is a bucket and a key. On PostgreSQL the
columns become COLLATE "C" (bytewise, S3's key order: the collation the sweep compares in),
which changes no stored value; SQLite compares bytewise already.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("thumbnail_url", "video_preview_url")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in COLUMNS:
            op.alter_column(
                "episodes", column, type_=sa.Text(collation="C"), existing_type=sa.Text()
            )
    for column in COLUMNS:
        where = sa.text(f"{column} LIKE 's3://%'")
        op.create_index(
            f"ix_episodes_{column}_stored",
            "episodes",
            [column],
            unique=False,
            postgresql_where=where,
            sqlite_where=where,
        )


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_episodes_{column}_stored", table_name="episodes")
    if op.get_bind().dialect.name == "postgresql":
        for column in COLUMNS:
            op.alter_column(
                "episodes", column, type_=sa.Text(), existing_type=sa.Text(collation="C")
            )
