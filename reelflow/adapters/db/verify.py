"""Database side of verify: the assets recorded as stored, read in batches, and marking the
ones whose object is missing or differs so that a backfill imports them again."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.engine import Engine

from reelflow.adapters.db.engine import db_errors
from reelflow.adapters.db.schema import URL_COLUMNS, Asset, Episode, utcnow
from reelflow.core.keys import s3_url
from reelflow.core.rules import pick_source_url
from reelflow.core.verify import StoredObject

__all__ = ["count_stored", "mark_unverified", "stored_batch"]


def _stored(movie_id: str | None) -> list[object]:
    where: list[object] = [Asset.status == "stored", Asset.key.is_not(None)]
    if movie_id is not None:
        where.append(Episode.movie_id == movie_id)
    return where


@db_errors
def count_stored(engine: Engine, movie_id: str | None = None) -> int:
    """How many assets the database records as stored (of one movie, or all)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(Asset)
                .join(Episode, Episode.id == Asset.episode_id)
                .where(*_stored(movie_id))  # type: ignore[arg-type]
            ).scalar_one()
        )


@db_errors
def stored_batch(
    engine: Engine, *, after: tuple[str, str] | None, limit: int, movie_id: str | None = None
) -> list[StoredObject]:
    """Up to `limit` stored assets after `after` = (bucket, key), in S3's bytewise key order
    (COLLATE "C" on PostgreSQL; SQLite's default), so a batch is one contiguous key range per
    prefix that one listing covers."""
    with engine.connect() as conn:
        bucket, key = Asset.bucket, Asset.key
        if conn.dialect.name == "postgresql":
            bucket, key = bucket.collate("C"), key.collate("C")  # type: ignore[assignment]
        query = (
            select(
                Asset.id,
                Episode.movie_id,
                Episode.number,
                Asset.kind,
                Asset.bucket,
                Asset.key,
                Asset.bytes,
                Asset.sha256,
            )
            .join(Episode, Episode.id == Asset.episode_id)
            .where(*_stored(movie_id))  # type: ignore[arg-type]
            .order_by(bucket, key)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(bucket, key) > tuple_(*after))
        return [
            StoredObject(
                asset_id=row.id,
                movie_id=row.movie_id,
                episode=row.number,
                kind=row.kind,
                bucket=row.bucket or "",
                key=row.key,
                bytes=row.bytes,
                sha256=row.sha256,
            )
            for row in conn.execute(query)
        ]


@db_errors
def mark_unverified(engine: Engine, found: Sequence[tuple[StoredObject, str]]) -> int:
    """Mark each (object, error) for backfill: the asset becomes `failed` with the error (its
    count of failed backfills at 0), and the episode points at its temporary URL again (the
    one it last received, else the one the asset row remembers), so apps stop getting
    presigned URLs of an object that is not there. Only an asset still stored under the same
    key with the same sha256 is marked: one re-imported meanwhile is left alone.
    Returns how many were marked."""
    marked = 0
    now = utcnow()
    with engine.begin() as conn:
        for obj, error in found:
            result = conn.execute(
                update(Asset)
                .where(
                    Asset.id == obj.asset_id,
                    Asset.status == "stored",
                    Asset.bucket == obj.bucket,
                    Asset.key == obj.key,
                    Asset.sha256.is_(None) if obj.sha256 is None else Asset.sha256 == obj.sha256,
                )
                .values(
                    status="failed",
                    last_error=error[:2000],
                    backfill_failures=0,
                    claimed_at=None,
                    updated_at=now,
                )
                .returning(Asset.episode_id, Asset.source_url)
            ).first()
            if result is None:
                continue
            marked += 1
            current_col, source_col = URL_COLUMNS[obj.kind]
            current, source = (getattr(Episode, c) for c in (current_col, source_col))
            episode = conn.execute(
                select(current, source).where(Episode.id == result.episode_id)
            ).first()
            if episode is None:
                continue
            temporary = pick_source_url(None, episode[1], result.source_url)
            if temporary is not None:
                conn.execute(
                    update(Episode)
                    .where(Episode.id == result.episode_id, current == s3_url(obj.bucket, obj.key))
                    .values({current_col: temporary, "updated_at": now})
                )
    return marked
