"""renditions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 19:05:00.000000

renditions: each thumbnail is stored as a ladder of sizes (reelflow.core.ladder). Every
thumbnail already stored becomes its `large` WebP rendition, under the key it has: existing
objects and the URLs apps hold stay valid. Its spec digest is that of the former fixed size
(1280x720, quality 85), which is the default ladder's large rung, so it is not made again.
assets.thumbhash / dominant_color: the placeholder, filled as renditions are made.
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _legacy_large_digest() -> str:
    """reelflow.core.ladder.spec_digest('large', 1280, 720, 'webp', 85), frozen here: a
    migration must not change when the code it once called does."""
    canonical = json.dumps(
        {"name": "large", "w": 1280, "h": 720, "format": "webp", "q": 85, "pipeline": 1},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def upgrade() -> None:
    op.create_table(
        "renditions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("rung", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("spec_digest", sa.String(length=16), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_renditions_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renditions")),
        sa.UniqueConstraint("asset_id", "rung", "format", name="uq_renditions_asset_rung_format"),
        sa.UniqueConstraint("bucket", "key", name="uq_renditions_bucket_key"),
    )
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("thumbhash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("dominant_color", sa.String(length=7), nullable=True))

    # Every stored thumbnail is its own large rendition, same bucket and key.
    op.execute(
        sa.text(
            "INSERT INTO renditions (asset_id, rung, format, bucket, key, content_type, width,"
            " height, bytes, sha256, spec_digest, source_sha256, created_at, updated_at)"
            " SELECT id, 'large', 'webp', bucket, key, COALESCE(content_type, 'image/webp'),"
            " COALESCE(width, 0), COALESCE(height, 0), COALESCE(bytes, 0), COALESCE(sha256, ''),"
            " :digest, source_sha256, COALESCE(stored_at, updated_at), updated_at"
            " FROM assets WHERE kind = 'thumbnail' AND status = 'stored'"
            " AND bucket IS NOT NULL AND key IS NOT NULL"
        ).bindparams(digest=_legacy_large_digest())
    )


def downgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("dominant_color")
        batch.drop_column("thumbhash")
    op.drop_table("renditions")
