"""purge_queue, the outbox of objects the database owes a deletion: deleting a movie queues its
keys in the same transaction; a purge takes batches and settles them. Also the reference
lookups that keep a purge or a sweep from deleting anything still in use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, union_all, update
from sqlalchemy.engine import Connection, Engine

from reelflow.adapters.db import cdn_queue
from reelflow.adapters.db.engine import db_errors, insert_for
from reelflow.adapters.db.schema import (
    Asset,
    Episode,
    Movie,
    PurgeItem,
    RenditionRow,
    StoredManifest,
    utcnow,
)
from reelflow.core.keys import is_managed_key, parse_s3_url, s3_url
from reelflow.core.purge import MovieDeletion, OwedKey, PurgePlan, plan_purge

__all__ = [
    "delete_movie_rows",
    "flag_revived",
    "owed_batch",
    "purge_queue_rows",
    "referenced",
    "settle_purge",
]

_REVIVED_ERROR = (
    "object deleted by a cleanup that raced the recording of this asset; "
    "a backfill imports it again"
)


@db_errors
def delete_movie_rows(engine: Engine, movie_id: str) -> MovieDeletion:
    """Delete a movie, its episodes, assets and stored manifests (their temporary URLs) and, in
    the same transaction, queue every managed object they reference in purge_queue (the
    outbox), so no key is ever forgotten."""
    now = utcnow()
    with engine.begin() as conn:
        found = conn.execute(select(Movie.id).where(Movie.id == movie_id).with_for_update()).first()
        if found is None:
            return MovieDeletion(movie_id=movie_id, found=False)
        episode_ids = select(Episode.id).where(Episode.movie_id == movie_id).scalar_subquery()
        episodes = conn.execute(
            select(Episode.thumbnail_url, Episode.video_preview_url).where(
                Episode.movie_id == movie_id
            )
        ).all()
        assets = conn.execute(
            select(Asset.bucket, Asset.key).where(Asset.episode_id.in_(episode_ids))
        ).all()
        asset_ids = select(Asset.id).where(Asset.episode_id.in_(episode_ids)).scalar_subquery()
        renditions = conn.execute(
            select(RenditionRow.bucket, RenditionRow.key).where(
                RenditionRow.asset_id.in_(asset_ids)
            )
        ).all()
        pairs: set[tuple[str, str]] = {
            (a.bucket, a.key) for a in [*assets, *renditions] if a.bucket and a.key
        }
        for episode in episodes:
            for url in (episode.thumbnail_url, episode.video_preview_url):
                parsed = parse_s3_url(url) if url else None
                if parsed:
                    pairs.add(parsed)
        queued = sorted(p for p in pairs if is_managed_key(p[1]))
        unmanaged = sorted(p for p in pairs if not is_managed_key(p[1]))
        if queued:
            conn.execute(
                insert_for(conn, PurgeItem.__table__).on_conflict_do_nothing(
                    index_elements=["bucket", "key"]
                ),
                [
                    {
                        "bucket": bucket,
                        "key": key,
                        "reason": "movie-deleted",
                        "attempts": 0,
                        "created_at": now,
                    }
                    for bucket, key in queued
                ],
            )
        conn.execute(delete(RenditionRow).where(RenditionRow.asset_id.in_(asset_ids)))
        conn.execute(delete(Asset).where(Asset.episode_id.in_(episode_ids)))
        conn.execute(delete(Episode).where(Episode.movie_id == movie_id))
        conn.execute(delete(Movie).where(Movie.id == movie_id))
        conn.execute(delete(StoredManifest).where(StoredManifest.movie_id == movie_id))
    return MovieDeletion(
        movie_id=movie_id,
        found=True,
        episodes=len(episodes),
        assets=len(assets),
        queued=tuple(queued),
        unmanaged=tuple(unmanaged),
    )


def referenced(conn: Connection, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (bucket, key) pairs among `pairs` that an asset row or an episode URL references.
    One round trip per bucket (normally one); keys are looked up by value, never by movie."""
    by_bucket: dict[str, set[str]] = {}
    for bucket, key in pairs:
        by_bucket.setdefault(bucket, set()).add(key)
    found: set[tuple[str, str]] = set()
    for bucket, keys in by_bucket.items():
        urls = [s3_url(bucket, key) for key in keys]
        rows = conn.execute(
            union_all(
                select(Asset.key.label("ref")).where(Asset.bucket == bucket, Asset.key.in_(keys)),
                select(RenditionRow.key.label("ref")).where(
                    RenditionRow.bucket == bucket, RenditionRow.key.in_(keys)
                ),
                select(Episode.thumbnail_url.label("ref")).where(Episode.thumbnail_url.in_(urls)),
                select(Episode.video_preview_url.label("ref")).where(
                    Episode.video_preview_url.in_(urls)
                ),
            )
        ).scalars()
        for ref in rows:
            if ref is None:
                continue
            parsed = parse_s3_url(ref)
            key = parsed[1] if parsed and parsed[0] == bucket else ref
            if key in keys:
                found.add((bucket, key))
    return found


@db_errors
def owed_batch(
    engine: Engine, *, after_id: int, limit: int, keys: Sequence[str] | None = None
) -> tuple[PurgePlan, int]:
    """The next purge_queue rows (id > after_id), split by plan_purge; returns (plan, last id).

    In the same transaction, rows whose key is referenced again are removed (nothing is owed
    any more) and rows that are not managed keys get an error (they are never deleted).
    """
    with engine.begin() as conn:
        query = (
            select(PurgeItem.id, PurgeItem.bucket, PurgeItem.key)
            .where(PurgeItem.id > after_id)
            .order_by(PurgeItem.id)
            .limit(limit)
        )
        if keys is not None:
            query = query.where(PurgeItem.key.in_(list(keys)))
        rows = [OwedKey(id=r.id, bucket=r.bucket, key=r.key) for r in conn.execute(query)]
        if not rows:
            return PurgePlan(delete=[], revived=[], refused=[]), after_id
        plan = plan_purge(rows, referenced(conn, [(r.bucket, r.key) for r in rows]))
        if plan.revived:
            conn.execute(delete(PurgeItem).where(PurgeItem.id.in_([r.id for r in plan.revived])))
        if plan.refused:
            conn.execute(
                update(PurgeItem)
                .where(PurgeItem.id.in_([r.id for r in plan.refused]))
                .values(
                    attempts=PurgeItem.attempts + 1,
                    last_error="refused: not a key reelflow manages; delete it by hand if needed",
                )
            )
    return plan, rows[-1].id


def flag_revived(conn: Connection, pairs: Sequence[tuple[str, str]]) -> int:
    """After a delete: mark assets that reference a just-deleted object failed (so a backfill
    restores them). Only a cleanup racing a concurrent re-recording can cause this."""
    revived = referenced(conn, pairs)
    flagged = 0
    for bucket, key in revived:
        # A rendition whose object is gone is made again by `backfill --renditions`.
        conn.execute(
            delete(RenditionRow).where(RenditionRow.bucket == bucket, RenditionRow.key == key)
        )
        result = conn.execute(
            update(Asset)
            .where(Asset.bucket == bucket, Asset.key == key)
            .values(status="failed", last_error=_REVIVED_ERROR, updated_at=utcnow())
        )
        flagged += result.rowcount or 0
    return flagged


@db_errors
def settle_purge(
    engine: Engine,
    deleted: Sequence[OwedKey],
    failed: Sequence[tuple[OwedKey, str]],
    *,
    cdn: bool = False,
) -> int:
    """Remove the rows of deleted keys; count an attempt and keep the error on the others.
    With `cdn`, the deleted keys are owed a CDN invalidation, in the same transaction.
    Returns how many assets had to be flagged for a backfill (see _flag_revived)."""
    with engine.begin() as conn:
        if deleted:
            conn.execute(delete(PurgeItem).where(PurgeItem.id.in_([r.id for r in deleted])))
            if cdn:
                cdn_queue.enqueue_keys(conn, [r.key for r in deleted])
        for row, error in failed:
            conn.execute(
                update(PurgeItem)
                .where(PurgeItem.id == row.id)
                .values(attempts=PurgeItem.attempts + 1, last_error=error[:2000])
            )
        return flag_revived(conn, [(r.bucket, r.key) for r in deleted]) if deleted else 0


@db_errors
def purge_queue_rows(engine: Engine) -> Sequence[Any]:
    """Every purge_queue row, oldest first (for reports and tests)."""
    with engine.connect() as conn:
        return conn.execute(select(PurgeItem).order_by(PurgeItem.id)).all()
