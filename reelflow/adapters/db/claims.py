"""Backfill claims: which assets still need importing, claimed so that two backfills running at
once never take the same asset (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite has one writer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select, update
from sqlalchemy.engine import Connection, Engine

from reelflow.adapters.db import renditions
from reelflow.adapters.db.engine import db_errors, insert_for
from reelflow.adapters.db.schema import URL_COLUMNS, Asset, Episode, RenditionRow, utcnow
from reelflow.core.ladder import Ladder
from reelflow.core.models import AssetJob
from reelflow.core.rules import CLAIM_TTL, pick_source_url

__all__ = [
    "backfill_candidates",
    "claim_backfill",
    "claim_renditions",
    "count_backfill",
    "count_renditions",
    "release_claims",
    "renditions_candidates",
]

_INTERRUPTED = "backfill interrupted before this asset was recorded"


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


def _claim(conn: Connection, candidates: Select[Any], limit: int, now: datetime) -> list[int]:
    """Claim the first `limit` of `candidates` (a select of asset ids), in id order, in one
    statement: they are marked claimed at `now` and their ids returned. On PostgreSQL rows
    another transaction holds are skipped (FOR UPDATE SKIP LOCKED); SQLite has one writer."""
    pick = (
        candidates.order_by(Asset.id)
        .limit(limit)
        .with_for_update(of=Asset, skip_locked=True)
        .correlate(None)
    )
    return list(
        conn.execute(
            update(Asset)
            .where(Asset.id.in_(pick.scalar_subquery()))
            .values(claimed_at=now)
            .returning(Asset.id)
        )
        .scalars()
        .all()
    )


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
            Episode.video_source_url,
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
                # No URL of its own: its poster or clip comes from the full-length video.
                from_video=bool(row.video_source_url)
                and url == row.video_source_url
                and not getattr(row, source_col),
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
    with engine.begin() as conn:
        claimed = _claim(
            conn,
            select(Asset.id)
            .join(Episode, Episode.id == Asset.episode_id)
            .where(Asset.id > after_id, or_(*(_needs_backfill(k, stale) for k in URL_COLUMNS))),
            limit,
            now,
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
                    insert_for(conn, Asset.__table__)
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
def release_claims(engine: Engine, asset_ids: Sequence[int], *, untouched: bool = False) -> None:
    """Give claimed assets back (end of a backfill batch). An asset still pending was never
    recorded (the batch was interrupted): it is marked failed, so the next run retries it.
    `untouched`: the batch never started on them (another run holds their movie); only the
    claim is dropped."""
    if not asset_ids:
        return
    if untouched:
        with engine.begin() as conn:
            conn.execute(update(Asset).where(Asset.id.in_(list(asset_ids))).values(claimed_at=None))
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


# --- backfill --renditions: stored thumbnails whose ladder is incomplete ------------------


def _needs_renditions(ladder: Ladder, stale: datetime, max_failures: int) -> Any:
    """SQL predicate over assets: a stored thumbnail lacks a current rendition (one whose
    spec digest is the ladder's; a digest names its rung and format) or its placeholder."""
    digests = sorted(set(ladder.digests().values()))
    current = (
        select(func.count())
        .select_from(RenditionRow)
        .where(RenditionRow.asset_id == Asset.id, RenditionRow.spec_digest.in_(digests))
        .scalar_subquery()
    )
    free = or_(Asset.claimed_at.is_(None), Asset.claimed_at < stale)
    return and_(
        Asset.kind == "thumbnail",
        Asset.status == "stored",
        Asset.bucket.is_not(None),
        Asset.key.is_not(None),
        or_(current < len(digests), Asset.thumbhash.is_(None)),
        Asset.backfill_failures < max_failures,
        free,
    )


@db_errors
def count_renditions(
    engine: Engine, ladder: Ladder, *, max_failures: int, now: datetime | None = None
) -> int:
    """How many stored thumbnails lack a rendition of the current ladder or a placeholder."""
    stale = (now or utcnow()) - CLAIM_TTL
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(Asset)
                .where(_needs_renditions(ladder, stale, max_failures))
            ).scalar_one()
        )


def _rendition_jobs(
    conn: Connection, asset_ids: Sequence[int], ladder: Ladder
) -> list[tuple[int, AssetJob]]:
    made = renditions.digests_of(conn, asset_ids)
    rows = conn.execute(
        select(
            Asset.id,
            Asset.bucket,
            Asset.key,
            Asset.sha256,
            Asset.source_sha256,
            Asset.source_url,
            Episode.id.label("episode_id"),
            Episode.movie_id,
            Episode.number,
        )
        .join(Episode, Episode.id == Asset.episode_id)
        .where(Asset.id.in_(list(asset_ids)))
        .order_by(Asset.id)
    ).all()
    return [
        (
            row.id,
            AssetJob(
                episode_id=row.episode_id,
                movie_id=row.movie_id,
                number=row.number,
                kind="thumbnail",
                source_url=row.source_url or "",
                known_bucket=row.bucket,
                known_key=row.key,
                known_sha256=row.sha256,
                known_source_sha256=row.source_sha256 or row.sha256,
                make=tuple(spec.ident for spec in ladder.stale(made.get(row.id, {}))),
                from_stored=True,
            ),
        )
        for row in rows
    ]


@db_errors
def claim_renditions(
    engine: Engine,
    ladder: Ladder,
    *,
    after_id: int,
    limit: int,
    max_failures: int,
    now: datetime | None = None,
) -> tuple[list[tuple[int, AssetJob]], int]:
    """Claim up to `limit` stored thumbnails (id > after_id) whose renditions are incomplete;
    each job makes the missing or changed renditions from the stored large object."""
    now = now or utcnow()
    stale = now - CLAIM_TTL
    with engine.begin() as conn:
        claimed = _claim(
            conn,
            select(Asset.id).where(
                Asset.id > after_id, _needs_renditions(ladder, stale, max_failures)
            ),
            limit,
            now,
        )
        jobs = _rendition_jobs(conn, claimed, ladder) if claimed else []
    return jobs, max(max(claimed, default=after_id), after_id)


@db_errors
def renditions_candidates(
    engine: Engine, ladder: Ladder, *, limit: int, max_failures: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """What `backfill --renditions` would claim (dry run); nothing changes."""
    stale = (now or utcnow()) - CLAIM_TTL
    with engine.connect() as conn:
        ids = (
            conn.execute(
                select(Asset.id)
                .where(_needs_renditions(ladder, stale, max_failures))
                .order_by(Asset.id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        jobs = _rendition_jobs(conn, ids, ladder) if ids else []
    return [
        {
            "movie_id": job.movie_id,
            "episode": job.number,
            "kind": "thumbnail",
            "status": "stored",
            "error": "to make: "
            + (", ".join("/".join(i) for i in job.make or ()) or "placeholder"),
        }
        for _, job in jobs
    ]
