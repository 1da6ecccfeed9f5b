"""Database schema (SQLAlchemy 2). Works on PostgreSQL and SQLite.

Tables:
    movies    one row per movie
    episodes  one row per (movie, number); holds the *current* thumbnail and preview URL:
              a temporary URL until the asset is stored, then s3://bucket/key
    assets    one row per (episode, kind): what is stored, where, and how it went
    manifests the manifests submitted for import, content-addressed by sha256: a flow run
              carries the address (reelflow.core.manifest.ManifestRef), not the manifest
    leases    who works on a movie now: one import or backfill per movie at a time
    renditions one row per (asset, rung, format): each size of a thumbnail's ladder
              (reelflow.core.ladder), and each format of a preview clip cut from a longer
              video (reelflow.core.video), that is in S3, written only after its upload
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Asset",
    "Base",
    "CdnPurgeItem",
    "Episode",
    "Lease",
    "Movie",
    "PurgeItem",
    "RenditionRow",
    "STORED_URL",
    "StoredManifest",
    "UrlText",
    "URL_COLUMNS",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# An episode's current URL. On PostgreSQL its collation is "C" (bytewise, S3's key order), so
# the orphan sweep's range and prefix scans can use a plain B-tree index (migration 0004).
UrlText = Text().with_variant(Text(collation="C"), "postgresql")
# Only stored URLs are indexed: short (bucket + key), where a temporary URL can be longer than
# a B-tree row allows. A query that wants the index repeats this predicate.
STORED_URL = "s3://%"


def _stored_url_index(column: str) -> Index:
    where = text(f"{column} LIKE '{STORED_URL}'")
    return Index(f"ix_episodes_{column}_stored", column, postgresql_where=where, sqlite_where=where)


class Movie(Base):
    __tablename__ = "movies"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    episodes: Mapped[list[Episode]] = relationship(
        back_populates="movie", cascade="all, delete-orphan", passive_deletes=True
    )


class Episode(Base):
    __tablename__ = "episodes"
    __table_args__ = (
        UniqueConstraint("movie_id", "number", name="uq_episodes_movie_number"),
        _stored_url_index("thumbnail_url"),
        _stored_url_index("video_preview_url"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    movie_id: Mapped[str] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500), default="")
    # Current URLs: temporary (http/https) until stored, then s3://bucket/key.
    thumbnail_url: Mapped[str | None] = mapped_column(UrlText)
    video_preview_url: Mapped[str | None] = mapped_column(UrlText)
    # The temporary URLs last received, kept so a later run (backfill) can retry them.
    thumbnail_source_url: Mapped[str | None] = mapped_column(Text)
    video_preview_source_url: Mapped[str | None] = mapped_column(Text)
    # The full-length video last received (migration 0008): the source of the preview clip
    # when there is no ready-made one, and of the poster when there is no thumbnail URL.
    video_source_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    movie: Mapped[Movie] = relationship(back_populates="episodes")
    assets: Mapped[list[Asset]] = relationship(
        back_populates="episode", cascade="all, delete-orphan", passive_deletes=True
    )


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("episode_id", "kind", name="uq_assets_episode_kind"),
        UniqueConstraint("bucket", "key", name="uq_assets_bucket_key"),
        Index("ix_assets_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # thumbnail | preview
    # pending | stored | failed | abandoned (a backfill gave up: reelflow.core.rules.after_failure)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    bucket: Mapped[str | None] = mapped_column(String(255))
    key: Mapped[str | None] = mapped_column(String(1024))
    content_type: Mapped[str | None] = mapped_column(String(100))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    source_bytes: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    source_url: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    stored_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Set while a backfill worker owns the row (migration 0002); NULL otherwise.
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Backfill runs in a row that failed to import this asset (migration 0005); reset when it
    # is stored, imported from a new URL or re-armed. `attempts` counts every attempt ever.
    backfill_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Thumbnails (migration 0007): a ThumbHash (base64) and the dominant colour ('#rrggbb'),
    # shown while the image loads (reelflow.core.placeholder).
    thumbhash: Mapped[str | None] = mapped_column(String(64))
    dominant_color: Mapped[str | None] = mapped_column(String(7))
    # Videos (migration 0008): the source's probe and what was made from it (the clip's
    # start and length, the poster's time), e.g. {"source": {...}, "clip": {...}}.
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    episode: Mapped[Episode] = relationship(back_populates="assets")
    renditions: Mapped[list[RenditionRow]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", passive_deletes=True
    )


class RenditionRow(Base):
    """One rendition of a thumbnail in S3: a rung of the ladder in one format.

    `format` is the ladder's (webp, avif); `content_type` is the stored bytes' (the original's
    when it was kept). `spec_digest` names the rung spec it was made with: a row whose digest
    differs from the ladder's is made again. Written only after the upload is confirmed."""

    __tablename__ = "renditions"
    __table_args__ = (
        UniqueConstraint("asset_id", "rung", "format", name="uq_renditions_asset_rung_format"),
        UniqueConstraint("bucket", "key", name="uq_renditions_bucket_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    rung: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8))
    bucket: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(100))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    spec_digest: Mapped[str] = mapped_column(String(16))
    # The source image it was made from (the asset's source_sha256 at the time).
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    asset: Mapped[Asset] = relationship(back_populates="renditions")


class PurgeItem(Base):
    """An object key whose deletion is owed: written with the DB change that orphaned it."""

    __tablename__ = "purge_queue"
    __table_args__ = (UniqueConstraint("bucket", "key", name="uq_purge_queue_bucket_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(1024))
    reason: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class CdnPurgeItem(Base):
    """A CDN path whose invalidation is owed (migration 0009): written in the transaction that
    settles its object's deletion (or records a replaced object under the same key), removed
    once the CDN took it."""

    __tablename__ = "cdn_purge_queue"
    __table_args__ = (UniqueConstraint("path", name="uq_cdn_purge_queue_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String(1100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class StoredManifest(Base):
    """A submitted manifest as its canonical JSON; `sha256` is that text's digest."""

    __tablename__ = "manifests"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    movie_id: Mapped[str] = mapped_column(String(128), index=True)
    episodes: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # holds temporary URLs: never log it
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class Lease(Base):
    """A named lease ("movie:<id>") held by one run until `expires_at`, renewed while it
    works; a crashed holder's lease lapses (reelflow.adapters.db.leases)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))  # host:pid:run id, unique per holder
    label: Mapped[str] = mapped_column(String(200), default="")  # the run's name, for messages
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


# kind -> (current URL column, last temporary URL column) on episodes
URL_COLUMNS: dict[str, tuple[str, str]] = {
    "thumbnail": ("thumbnail_url", "thumbnail_source_url"),
    "preview": ("video_preview_url", "video_preview_source_url"),
}
