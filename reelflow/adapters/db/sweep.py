"""Database reads and writes of the orphan sweep: which keys of a listing page are referenced or
owed, how many objects of a bucket the database records, and settling a page's deletions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, literal, select, union, union_all
from sqlalchemy.engine import Connection, Engine

from reelflow.adapters.db.engine import db_errors, insert_for
from reelflow.adapters.db.purge_queue import flag_revived
from reelflow.adapters.db.schema import Asset, Episode, PurgeItem, utcnow
from reelflow.core.keys import parse_s3_url, s3_url

__all__ = ["bucket_reference_count", "page_references", "settle_sweep"]


@db_errors
def page_references(
    engine: Engine, bucket: str, keys: Sequence[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """(referenced keys, owed keys) among one listing page's keys: one query for the page."""
    if not keys:
        return frozenset(), frozenset()
    keys = list(keys)
    wanted = set(keys)
    # Episode URLs have no index (temporary URLs can be longer than a B-tree row allows), so
    # they are matched by range: the page's keys are contiguous in S3's (bytewise) order, so
    # any URL naming one of them sorts between the URLs of the first and the last. Compared
    # bytewise (COLLATE "C" on PostgreSQL; SQLite's default); exact matches are kept below.
    low, high = s3_url(bucket, min(keys)), s3_url(bucket, max(keys))

    def in_range(column: Any, conn: Connection) -> Any:
        value = column.collate("C") if conn.dialect.name == "postgresql" else column
        return and_(value >= low, value <= high)

    referenced: set[str] = set()
    owed: set[str] = set()
    with engine.connect() as conn:
        stmt: Any = union_all(
            select(literal("ref").label("tag"), Asset.key.label("value")).where(
                Asset.bucket == bucket, Asset.key.in_(keys)
            ),
            select(literal("url").label("tag"), Episode.thumbnail_url.label("value")).where(
                in_range(Episode.thumbnail_url, conn)
            ),
            select(literal("url").label("tag"), Episode.video_preview_url.label("value")).where(
                in_range(Episode.video_preview_url, conn)
            ),
            select(literal("owed").label("tag"), PurgeItem.key.label("value")).where(
                PurgeItem.bucket == bucket, PurgeItem.key.in_(keys)
            ),
        )
        for tag, value in conn.execute(stmt):
            if tag == "owed":
                owed.add(value)
            elif tag == "ref":
                referenced.add(value)
            else:
                parsed = parse_s3_url(value)
                if parsed and parsed[0] == bucket and parsed[1] in wanted:
                    referenced.add(parsed[1])
    return frozenset(referenced), frozenset(owed)


@db_errors
def bucket_reference_count(engine: Engine, bucket: str) -> int:
    """How many distinct objects of `bucket` the database references: the keys of asset rows
    and of episode s3:// URLs, each counted once (a stored asset names its object twice, in
    its row and in its episode's URL)."""
    prefix = s3_url(bucket, "")
    start = len(prefix) + 1  # SQL substr is 1-based: the key after "s3://bucket/"
    with engine.connect() as conn:
        keys: Any = union(
            select(Asset.key.label("key")).where(Asset.bucket == bucket, Asset.key.is_not(None)),
            *(
                select(func.substr(column, start).label("key")).where(
                    column.startswith(prefix, autoescape=True)
                )
                for column in (Episode.thumbnail_url, Episode.video_preview_url)
            ),
        ).subquery()
        count = conn.execute(select(func.count()).select_from(keys)).scalar_one()
    return int(count)


@db_errors
def settle_sweep(
    engine: Engine, bucket: str, deleted: Sequence[str], failed: Sequence[tuple[str, str]]
) -> int:
    """After a sweep deleted a page's orphans: queue the keys it could not delete (so the next
    purge or sweep retries them) and flag any asset that referenced a deleted key meanwhile."""
    now = utcnow()
    with engine.begin() as conn:
        if failed:
            ins = insert_for(conn, PurgeItem.__table__)
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["bucket", "key"],
                    set_={
                        "attempts": PurgeItem.__table__.c.attempts + 1,
                        "last_error": ins.excluded.last_error,
                    },
                ),
                [
                    {
                        "bucket": bucket,
                        "key": key,
                        "reason": "orphan",
                        "attempts": 1,
                        "last_error": error[:2000],
                        "created_at": now,
                    }
                    for key, error in failed
                ],
            )
        return flag_revived(conn, [(bucket, key) for key in deleted]) if deleted else 0
