"""Database reads and writes for imports. Each function is one short transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from reelflow.db import Asset, Episode, Movie, PurgeItem, db_errors, utcnow
from reelflow.keys import s3_url
from reelflow.manifest import Manifest
from reelflow.models import AssetJob, Stored

__all__ = [
    "URL_COLUMNS",
    "record_failed",
    "record_stored",
    "upsert_manifest",
]

# kind -> (current URL column, last temporary URL column) on episodes
URL_COLUMNS: dict[str, tuple[str, str]] = {
    "thumbnail": ("thumbnail_url", "thumbnail_source_url"),
    "preview": ("video_preview_url", "video_preview_source_url"),
}
_MANIFEST_FIELD = {"thumbnail": "thumbnail_url", "preview": "video_preview_url"}


def _insert(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database dialect {conn.dialect.name!r} is not supported")


@db_errors
def upsert_manifest(engine: Engine, manifest: Manifest) -> list[AssetJob]:
    """Create or update the movie and every episode at once; return the assets to import.

    Episodes that already point at a stored s3:// object keep it until a new object replaces
    it; the temporary URL is remembered in *_source_url either way.
    """
    now = utcnow()
    with engine.begin() as conn:
        movie_ins = _insert(conn, Movie.__table__).values(
            id=manifest.movie_id, title=manifest.title, created_at=now, updated_at=now
        )
        conn.execute(
            movie_ins.on_conflict_do_update(
                index_elements=["id"], set_={"title": movie_ins.excluded.title, "updated_at": now}
            )
        )
        if manifest.episodes:
            table = Episode.__table__
            ins = _insert(conn, table)
            set_: dict[str, Any] = {"title": ins.excluded.title, "updated_at": now}
            for current, source in URL_COLUMNS.values():
                set_[source] = func.coalesce(ins.excluded[source], table.c[source])
                set_[current] = case(
                    (table.c[current].like("s3://%"), table.c[current]),
                    else_=func.coalesce(ins.excluded[current], table.c[current]),
                )
            conn.execute(
                ins.on_conflict_do_update(index_elements=["movie_id", "number"], set_=set_),
                [
                    {
                        "movie_id": manifest.movie_id,
                        "number": ep.number,
                        "title": ep.title,
                        "thumbnail_url": ep.thumbnail_url,
                        "thumbnail_source_url": ep.thumbnail_url,
                        "video_preview_url": ep.video_preview_url,
                        "video_preview_source_url": ep.video_preview_url,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for ep in manifest.episodes
                ],
            )
        ids = dict(
            conn.execute(
                select(Episode.number, Episode.id).where(Episode.movie_id == manifest.movie_id)
            ).all()
        )
        wanted = [
            (ep.number, kind, getattr(ep, field))
            for ep in manifest.episodes
            for kind, field in _MANIFEST_FIELD.items()
            if getattr(ep, field)
        ]
        if wanted:
            asset_ins = _insert(conn, Asset.__table__)
            conn.execute(
                asset_ins.on_conflict_do_nothing(index_elements=["episode_id", "kind"]),
                [
                    {
                        "episode_id": ids[number],
                        "kind": kind,
                        "status": "pending",
                        "source_url": url,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for number, kind, url in wanted
                ],
            )
        existing = {
            (row.episode_id, row.kind): row
            for row in conn.execute(
                select(Asset).join(Episode).where(Episode.movie_id == manifest.movie_id)
            )
        }
    jobs = []
    for number, kind, url in wanted:
        row = existing.get((ids[number], kind))
        known = row is not None and row.status == "stored" and row.source_url == url
        jobs.append(
            AssetJob(
                episode_id=ids[number],
                movie_id=manifest.movie_id,
                number=number,
                kind=kind,  # type: ignore[arg-type]
                source_url=url,
                known_bucket=row.bucket if known and row else None,
                known_key=row.key if known and row else None,
                known_sha256=row.sha256 if known and row else None,
                known_source_sha256=row.source_sha256 if row is not None else None,
            )
        )
    return jobs


@db_errors
def record_stored(engine: Engine, stored: Stored, attempts: int) -> None:
    """Mark the asset stored and point the episode at it, in one transaction.

    If the asset used to live under another key (say .jpg, now .webp), that key is queued for
    purge in the same transaction, so it can never be forgotten.
    """
    prepared, job = stored.prepared, stored.prepared.job
    current_col, _ = URL_COLUMNS[job.kind]
    now = utcnow()
    with engine.begin() as conn:
        previous = conn.execute(
            select(Asset.bucket, Asset.key).where(
                Asset.episode_id == job.episode_id, Asset.kind == job.kind
            )
        ).first()
        if (
            previous
            and previous.key
            and (previous.bucket, previous.key)
            != (
                stored.bucket,
                stored.key,
            )
        ):
            conn.execute(
                _insert(conn, PurgeItem.__table__)
                .values(
                    bucket=previous.bucket,
                    key=previous.key,
                    reason="replaced",
                    attempts=0,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["bucket", "key"])
            )
        values = {
            "status": "stored",
            "bucket": stored.bucket,
            "key": stored.key,
            "content_type": prepared.content_type,
            "bytes": prepared.bytes,
            "source_bytes": prepared.source_bytes,
            "width": prepared.width,
            "height": prepared.height,
            "sha256": prepared.sha256,
            "source_sha256": prepared.source_sha256,
            "source_url": job.source_url,
            "attempts": Asset.attempts + attempts,
            "last_error": None,
            "updated_at": now,
            "stored_at": now,
        }
        result = conn.execute(
            update(Asset)
            .where(Asset.episode_id == job.episode_id, Asset.kind == job.kind)
            .values(**values)
        )
        if result.rowcount == 0:
            conn.execute(
                _insert(conn, Asset.__table__).values(
                    episode_id=job.episode_id,
                    kind=job.kind,
                    created_at=now,
                    **{**values, "attempts": attempts},
                )
            )
        conn.execute(
            update(Episode)
            .where(Episode.id == job.episode_id)
            .values({current_col: s3_url(stored.bucket, stored.key), "updated_at": now})
        )
        # The object was written with this key; if a purge was owed for it, it no longer is.
        conn.execute(
            delete(PurgeItem).where(PurgeItem.bucket == stored.bucket, PurgeItem.key == stored.key)
        )


@db_errors
def record_failed(engine: Engine, job: AssetJob, error: str, attempts: int) -> None:
    """Mark the asset failed; the episode keeps whatever URL it had (graceful degradation)."""
    with engine.begin() as conn:
        conn.execute(
            update(Asset)
            .where(Asset.episode_id == job.episode_id, Asset.kind == job.kind)
            .values(
                # A stored asset whose *new* source failed stays stored: its object still serves.
                status=case((Asset.status == "stored", "stored"), else_="failed"),
                attempts=Asset.attempts + attempts,
                last_error=error[:2000],
                updated_at=utcnow(),
            )
        )


# --- cleanup: delete a movie, purge queue, orphan sweep, backfill (appended) -------------

from collections.abc import Iterable  # noqa: E402
from datetime import datetime  # noqa: E402

from sqlalchemy import and_, literal, or_, union_all  # noqa: E402

from reelflow.cleanup import (  # noqa: E402
    CLAIM_TTL,
    MovieDeletion,
    OwedKey,
    PurgePlan,
    pick_source_url,
    plan_purge,
)
from reelflow.keys import is_managed_key, parse_s3_url  # noqa: E402

_INTERRUPTED = "backfill interrupted before this asset was recorded"
_REVIVED_ERROR = (
    "object deleted by a cleanup that raced the recording of this asset; "
    "a backfill imports it again"
)


@db_errors
def delete_movie_rows(engine: Engine, movie_id: str) -> MovieDeletion:
    """Delete a movie, its episodes and assets and, in the same transaction, queue every
    managed object they reference in purge_queue (the outbox), so no key is ever forgotten."""
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
        pairs: set[tuple[str, str]] = {(a.bucket, a.key) for a in assets if a.bucket and a.key}
        for episode in episodes:
            for url in (episode.thumbnail_url, episode.video_preview_url):
                parsed = parse_s3_url(url) if url else None
                if parsed:
                    pairs.add(parsed)
        queued = sorted(p for p in pairs if is_managed_key(p[1]))
        unmanaged = sorted(p for p in pairs if not is_managed_key(p[1]))
        if queued:
            conn.execute(
                _insert(conn, PurgeItem.__table__).on_conflict_do_nothing(
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
        conn.execute(delete(Asset).where(Asset.episode_id.in_(episode_ids)))
        conn.execute(delete(Episode).where(Episode.movie_id == movie_id))
        conn.execute(delete(Movie).where(Movie.id == movie_id))
    return MovieDeletion(
        movie_id=movie_id,
        found=True,
        episodes=len(episodes),
        assets=len(assets),
        queued=tuple(queued),
        unmanaged=tuple(unmanaged),
    )


def _referenced(conn: Connection, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
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
    """How many references to objects of `bucket` the database holds: asset rows with a key
    plus episode s3:// URLs (an object stored by reelflow usually counts twice)."""
    prefix = s3_url(bucket, "")
    with engine.connect() as conn:
        assets = conn.execute(
            select(func.count())
            .select_from(Asset)
            .where(Asset.bucket == bucket, Asset.key.is_not(None))
        ).scalar_one()
        urls = sum(
            conn.execute(
                select(func.count())
                .select_from(Episode)
                .where(column.startswith(prefix, autoescape=True))
            ).scalar_one()
            for column in (Episode.thumbnail_url, Episode.video_preview_url)
        )
    return int(assets) + int(urls)


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
        plan = plan_purge(rows, _referenced(conn, [(r.bucket, r.key) for r in rows]))
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


def _flag_revived(conn: Connection, pairs: Sequence[tuple[str, str]]) -> int:
    """After a delete: mark assets that reference a just-deleted object failed (so a backfill
    restores them). Only a cleanup racing a concurrent re-recording can cause this."""
    revived = _referenced(conn, pairs)
    flagged = 0
    for bucket, key in revived:
        result = conn.execute(
            update(Asset)
            .where(Asset.bucket == bucket, Asset.key == key)
            .values(status="failed", last_error=_REVIVED_ERROR, updated_at=utcnow())
        )
        flagged += result.rowcount or 0
    return flagged


@db_errors
def settle_purge(
    engine: Engine, deleted: Sequence[OwedKey], failed: Sequence[tuple[OwedKey, str]]
) -> int:
    """Remove the rows of deleted keys; count an attempt and keep the error on the others.
    Returns how many assets had to be flagged for a backfill (see _flag_revived)."""
    with engine.begin() as conn:
        if deleted:
            conn.execute(delete(PurgeItem).where(PurgeItem.id.in_([r.id for r in deleted])))
        for row, error in failed:
            conn.execute(
                update(PurgeItem)
                .where(PurgeItem.id == row.id)
                .values(attempts=PurgeItem.attempts + 1, last_error=error[:2000])
            )
        return _flag_revived(conn, [(r.bucket, r.key) for r in deleted]) if deleted else 0


@db_errors
def settle_sweep(
    engine: Engine, bucket: str, deleted: Sequence[str], failed: Sequence[tuple[str, str]]
) -> int:
    """After a sweep deleted a page's orphans: queue the keys it could not delete (so the next
    purge or sweep retries them) and flag any asset that referenced a deleted key meanwhile."""
    now = utcnow()
    with engine.begin() as conn:
        if failed:
            ins = _insert(conn, PurgeItem.__table__)
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
        return _flag_revived(conn, [(bucket, key) for key in deleted]) if deleted else 0


@db_errors
def purge_queue_rows(engine: Engine) -> Sequence[Any]:
    """Every purge_queue row, oldest first (for reports and tests)."""
    with engine.connect() as conn:
        return conn.execute(select(PurgeItem).order_by(PurgeItem.id)).all()


# --- backfill ----------------------------------------------------------------------------


def _current(kind: str) -> Any:
    return getattr(Episode, URL_COLUMNS[kind][0])


def _source(kind: str) -> Any:
    return getattr(Episode, URL_COLUMNS[kind][1])


def _temporary(column: Any) -> Any:
    return and_(column.is_not(None), ~column.startswith("s3://"))


def _needs_backfill(kind: str, stale: datetime) -> Any:
    """SQL predicate over (assets join episodes) for one kind: the asset needs importing."""
    current = _current(kind)
    has_source = or_(_temporary(_source(kind)), _temporary(current), _temporary(Asset.source_url))
    needs = or_(
        Asset.status == "failed",
        and_(Asset.status == "pending", Asset.updated_at < stale),  # an import that died
        and_(Asset.status == "stored", _temporary(current)),  # stored, but not shown
    )
    free = or_(Asset.claimed_at.is_(None), Asset.claimed_at < stale)
    return and_(Asset.kind == kind, has_source, needs, free)


def _missing_rows(kind: str) -> Any:
    """Episodes still showing a temporary URL for `kind` with no asset row at all."""
    current = _current(kind)
    return (
        select(Episode.id.label("episode_id"), Episode.movie_id, Episode.number)
        .outerjoin(Asset, and_(Asset.episode_id == Episode.id, Asset.kind == kind))
        .where(Asset.id.is_(None), _temporary(current))
    )


@db_errors
def count_backfill(engine: Engine, now: datetime | None = None) -> int:
    """How many assets (existing rows and missing ones) need a backfill now."""
    stale = (now or utcnow()) - CLAIM_TTL
    total = 0
    with engine.connect() as conn:
        for kind in URL_COLUMNS:
            total += conn.execute(
                select(func.count())
                .select_from(Asset)
                .join(Episode, Episode.id == Asset.episode_id)
                .where(_needs_backfill(kind, stale))
            ).scalar_one()
            total += conn.execute(
                select(func.count()).select_from(_missing_rows(kind).subquery())
            ).scalar_one()
    return int(total)


def _jobs(conn: Connection, asset_ids: Sequence[int]) -> list[tuple[int, AssetJob | None]]:
    rows = conn.execute(
        select(
            Asset.id,
            Asset.kind,
            Asset.source_url,
            Episode.id.label("episode_id"),
            Episode.movie_id,
            Episode.number,
            Episode.thumbnail_url,
            Episode.thumbnail_source_url,
            Episode.video_preview_url,
            Episode.video_preview_source_url,
        )
        .join(Episode, Episode.id == Asset.episode_id)
        .where(Asset.id.in_(list(asset_ids)))
        .order_by(Asset.id)
    ).all()
    out: list[tuple[int, AssetJob | None]] = []
    for row in rows:
        current_col, source_col = URL_COLUMNS[row.kind]
        url = pick_source_url(getattr(row, current_col), getattr(row, source_col), row.source_url)
        job = (
            AssetJob(
                episode_id=row.episode_id,
                movie_id=row.movie_id,
                number=row.number,
                kind=row.kind,
                source_url=url,
            )
            if url
            else None
        )
        out.append((row.id, job))
    return out


@db_errors
def claim_backfill(
    engine: Engine, *, after_id: int, limit: int, now: datetime | None = None
) -> tuple[list[tuple[int, AssetJob]], int]:
    """Claim up to `limit` assets that need a backfill (id > after_id); return ([(asset id,
    job)], last id). Safe with several workers: on PostgreSQL the rows are picked with
    FOR UPDATE SKIP LOCKED and marked claimed in the same statement; SQLite has one writer.
    Episodes that show a temporary URL but have no asset row get one, claimed on insert."""
    now = now or utcnow()
    stale = now - CLAIM_TTL
    claimed: list[int] = []
    with engine.begin() as conn:
        pick = (
            select(Asset.id)
            .join(Episode, Episode.id == Asset.episode_id)
            .where(
                Asset.id > after_id,
                or_(*(_needs_backfill(kind, stale) for kind in URL_COLUMNS)),
            )
            .order_by(Asset.id)
            .limit(limit)
            .with_for_update(of=Asset, skip_locked=True)
            .correlate(None)
        )
        claimed += (
            conn.execute(
                update(Asset)
                .where(Asset.id.in_(pick.scalar_subquery()))
                .values(claimed_at=now)
                .returning(Asset.id)
            )
            .scalars()
            .all()
        )
        for kind in URL_COLUMNS:
            if len(claimed) >= limit:
                break
            missing = (
                _missing_rows(kind).order_by(Episode.id).limit(limit - len(claimed)).subquery()
            )
            source = select(
                missing.c.episode_id,
                literal(kind),
                literal("pending"),
                literal(0),
                literal(now),
                literal(now),
                literal(now),
            ).where(missing.c.episode_id.is_not(None))
            claimed += (
                conn.execute(
                    _insert(conn, Asset.__table__)
                    .from_select(
                        [
                            "episode_id",
                            "kind",
                            "status",
                            "attempts",
                            "claimed_at",
                            "created_at",
                            "updated_at",
                        ],
                        source,
                    )
                    .on_conflict_do_nothing(index_elements=["episode_id", "kind"])
                    .returning(Asset.__table__.c.id)
                )
                .scalars()
                .all()
            )
        jobs = _jobs(conn, claimed) if claimed else []
        orphaned = [asset_id for asset_id, job in jobs if job is None]
        if orphaned:  # no usable source after all: give the claim back
            conn.execute(update(Asset).where(Asset.id.in_(orphaned)).values(claimed_at=None))
    last = max(claimed, default=after_id)
    return [(asset_id, job) for asset_id, job in jobs if job is not None], max(last, after_id)


@db_errors
def release_claims(engine: Engine, asset_ids: Sequence[int]) -> None:
    """Give claimed assets back (end of a backfill batch). An asset still pending was never
    recorded (the batch was interrupted): it is marked failed, so the next run retries it."""
    if not asset_ids:
        return
    pending = Asset.status == "pending"
    with engine.begin() as conn:
        conn.execute(
            update(Asset)
            .where(Asset.id.in_(list(asset_ids)))
            .values(
                claimed_at=None,
                status=case((pending, "failed"), else_=Asset.status),
                last_error=case((pending, _INTERRUPTED), else_=Asset.last_error),
            )
        )


@db_errors
def backfill_candidates(
    engine: Engine, *, limit: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """What a backfill would claim (dry run): movie, episode, kind, status; nothing changes."""
    stale = (now or utcnow()) - CLAIM_TTL
    found: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for kind in URL_COLUMNS:
            for row in conn.execute(
                select(Episode.movie_id, Episode.number, Asset.status, Asset.last_error)
                .join(Episode, Episode.id == Asset.episode_id)
                .where(_needs_backfill(kind, stale))
                .order_by(Asset.id)
                .limit(limit - len(found))
            ):
                found.append(
                    {
                        "movie_id": row.movie_id,
                        "episode": row.number,
                        "kind": kind,
                        "status": row.status,
                        "error": row.last_error,
                    }
                )
            if len(found) >= limit:
                return found
        for kind in URL_COLUMNS:
            for row in conn.execute(
                _missing_rows(kind).order_by(Episode.id).limit(limit - len(found))
            ):
                found.append(
                    {
                        "movie_id": row.movie_id,
                        "episode": row.number,
                        "kind": kind,
                        "status": "missing",
                        "error": None,
                    }
                )
            if len(found) >= limit:
                break
    return found
