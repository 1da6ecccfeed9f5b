"""video sources

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 06:30:00.000000

episodes.video_url / video_source_url: an episode's full-length video (a temporary URL, then
remembered for backfills), from which the preview clip and, when the manifest has no
thumbnail, the poster are made (reelflow.core.video).
assets.media: what the probe found in the source (container, codecs, duration, size, frame
rate, rotation, audio) and what was made from it (the clip's start, length, codec; the
poster's time and why it was chosen), as JSON.
Existing rows get NULLs: nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("episodes", sa.Column("video_source_url", sa.Text(), nullable=True))
    op.add_column("assets", sa.Column("media", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch copy: on SQLite a batch
    # recreates the table, and dropping `episodes` would cascade-delete every asset.
    op.drop_column("assets", "media")
    op.drop_column("episodes", "video_source_url")
