"""Database reads and writes of the orphan sweep: which keys of a listing page are referenced or
owed, how many objects of a bucket the database records, and settling a page's deletions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, literal, select, union, union_all
from sqlalchemy.engine import Engine

from reelflow.adapters.db.engine import db_errors, insert_for
from reelflow.adapters.db.purge_queue import flag_revived
from reelflow.adapters.db.schema import STORED_URL, Asset, Episode, PurgeItem, RenditionRow, utcnow
from reelflow.core.keys import parse_s3_url, s3_url

__all__ = [
    "bucket_reference_count",
    "bucket_references_query",
    "page_references",
    "page_references_query",
    "settle_sweep",
]


def _bytewise(column: Any, dialect: str) -> Any:
    """`column` compared bytewise, in S3's key order: COLLATE "C" on PostgreSQL (the URL
    columns' own collation since migration 0004, so their indexes serve it); SQLite's BINARY
    default already is."""
    return column.collate("C") if dialect == "postgresql" else column


def _stored_urls_between(column: Any, dialect: str, low: str, high: str, *, upto: bool) -> Any:
    """`column` holds an s3:// URL in [low, high] (or [low, high) when not `upto`). The
    s3:// test repeats the partial index's predicate (schema.STORED_URL), so the planner may
    use that index: only stored URLs are indexed (a temporary URL can be longer than a
    B-tree row allows)."""
    value = _bytewise(column, dialect)
    top = value <= high if upto else value < high
    # The pattern is rendered into the SQL, not bound: PostgreSQL matches a partial index's
    # predicate only against a constant, which a prepared statement's parameter is not.
    stored = column.like(literal(STORED_URL, literal_execute=True))
    return and_(stored, value >= low, top)


def page_references_query(dialect: str, bucket: str, keys: Sequence[str]) -> Any:
    """The one query of `page_references`: (tag, value) rows for a page's keys."""
    # The page's keys are contiguous in S3's (bytewise) order, so any URL naming one of them
    # sorts between the URLs of the first and the last: a range scan of the URL indexes.
    # Exact matches are kept by the caller.
    low, high = s3_url(bucket, min(keys)), s3_url(bucket, max(keys))
    return union_all(
        select(literal("ref").label("tag"), Asset.key.label("value")).where(
            Asset.bucket == bucket, Asset.key.in_(keys)
        ),
        select(literal("ref").label("tag"), RenditionRow.key.label("value")).where(
            RenditionRow.bucket == bucket, RenditionRow.key.in_(keys)
        ),
        *(
            select(literal("url").label("tag"), column.label("value")).where(
                _stored_urls_between(column, dialect, low, high, upto=True)
            )
            for column in (Episode.thumbnail_url, Episode.video_preview_url)
        ),
        select(literal("owed").label("tag"), PurgeItem.key.label("value")).where(
            PurgeItem.bucket == bucket, PurgeItem.key.in_(keys)
        ),
    )


@db_errors
def page_references(
    engine: Engine, bucket: str, keys: Sequence[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """(referenced keys, owed keys) among one listing page's keys: one query for the page."""
    if not keys:
        return frozenset(), frozenset()
    keys = list(keys)
    wanted = set(keys)
    referenced: set[str] = set()
    owed: set[str] = set()
    with engine.connect() as conn:
        for tag, value in conn.execute(page_references_query(conn.dialect.name, bucket, keys)):
            if tag == "owed":
                owed.add(value)
            elif tag == "ref":
                referenced.add(value)
            else:
                parsed = parse_s3_url(value)
                if parsed and parsed[0] == bucket and parsed[1] in wanted:
                    referenced.add(parsed[1])
    return frozenset(referenced), frozenset(owed)


def bucket_references_query(dialect: str, bucket: str) -> Any:
    """The one query of `bucket_reference_count`."""
    prefix = s3_url(bucket, "")
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # "s3://bucket0": just past every key
    start = len(prefix) + 1  # SQL substr is 1-based: the key after "s3://bucket/"
    keys: Any = union(
        select(Asset.key.label("key")).where(Asset.bucket == bucket, Asset.key.is_not(None)),
        select(RenditionRow.key.label("key")).where(RenditionRow.bucket == bucket),
        *(
            select(func.substr(column, start).label("key")).where(
                _stored_urls_between(column, dialect, prefix, end, upto=False)
            )
            for column in (Episode.thumbnail_url, Episode.video_preview_url)
        ),
    ).subquery()
    return select(func.count()).select_from(keys)


@db_errors
def bucket_reference_count(engine: Engine, bucket: str) -> int:
    """How many distinct objects of `bucket` the database references: the keys of asset rows
    and of episode s3:// URLs, each counted once (a stored asset names its object twice, in
    its row and in its episode's URL)."""
    with engine.connect() as conn:
        count = conn.execute(bucket_references_query(conn.dialect.name, bucket)).scalar_one()
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
