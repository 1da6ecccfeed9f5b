"""Database writes of an import: the episodes of a manifest, then each asset's outcome.
Each function is one short transaction; the rules it applies live in reelflow.core.rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, Literal

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.engine import Engine

from reelflow.adapters.db import cdn_queue, renditions
from reelflow.adapters.db.engine import db_errors, insert_for
from reelflow.adapters.db.schema import URL_COLUMNS, Asset, Episode, Movie, PurgeItem, utcnow
from reelflow.core.keys import s3_url
from reelflow.core.ladder import Ladder
from reelflow.core.manifest import Manifest
from reelflow.core.models import AssetJob, AssetOutcome, Stored
from reelflow.core.rules import (
    after_failure,
    already_stored,
    asset_sources,
    owes_invalidation,
    replaced_object,
)
from reelflow.core.video import PreviewSpec

__all__ = ["record_failed", "record_stored", "recorded_since", "upsert_manifest"]


@db_errors
def upsert_manifest(
    engine: Engine,
    manifest: Manifest,
    ladder: Ladder | None = None,
    preview: PreviewSpec | None = None,
) -> list[AssetJob]:
    """Create or update the movie and every episode at once; return the assets to import.

    Episodes that already point at a stored s3:// object keep it until a new object replaces
    it; the temporary URL is remembered in *_source_url either way.

    With a `ladder`, a thumbnail stored from the same source gets `make`: the renditions whose
    spec digest is missing or differs (none when all are current, so nothing is done). With a
    `preview` spec, so does a preview clip cut from a longer video.

    An episode with a `video_url` and no thumbnail (or preview) URL gets that asset from the
    video; its current URL stays empty until then (a full-length video is no thumbnail).
    """
    now = utcnow()
    with engine.begin() as conn:
        movie_ins = insert_for(conn, Movie.__table__).values(
            id=manifest.movie_id, title=manifest.title, created_at=now, updated_at=now
        )
        conn.execute(
            movie_ins.on_conflict_do_update(
                index_elements=["id"], set_={"title": movie_ins.excluded.title, "updated_at": now}
            )
        )
        if manifest.episodes:
            table = Episode.__table__
            ins = insert_for(conn, table)
            set_: dict[str, Any] = {
                "title": ins.excluded.title,
                "updated_at": now,
                "video_source_url": func.coalesce(
                    ins.excluded.video_source_url, table.c.video_source_url
                ),
            }
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
                        "video_source_url": ep.video_url,
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
            (ep.number, kind, url, from_video)
            for ep in manifest.episodes
            for kind, url, from_video in asset_sources(
                ep.thumbnail_url, ep.video_preview_url, ep.video_url
            )
        ]
        if wanted:
            asset_ins = insert_for(conn, Asset.__table__)
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
                    for number, kind, url, _ in wanted
                ],
            )
        existing = {
            (row.episode_id, row.kind): row
            for row in conn.execute(
                select(Asset).join(Episode).where(Episode.movie_id == manifest.movie_id)
            )
        }
        made: dict[int, dict[tuple[str, str], str]] = {}
        if ladder is not None or preview is not None:
            made = renditions.digests_of(
                conn, [row.id for row in existing.values() if row.status == "stored"]
            )
    jobs = []
    for number, kind, url, from_video in wanted:
        row = existing.get((ids[number], kind))
        known = row is not None and already_stored(row.status, row.source_url, url)
        make: tuple[tuple[str, str], ...] | None = None
        if known and row is not None and ladder is not None and kind == "thumbnail":
            make = tuple(spec.ident for spec in ladder.stale(made.get(row.id, {})))
        elif known and row is not None and preview is not None and kind == "preview":
            # A clip (it has rendition rows, or is cut from a video): remake what changed. A
            # ready-made preview stored as it was has no rows and nothing to remake.
            clips = made.get(row.id, {})
            if clips or from_video:
                make = preview.stale(clips)
        jobs.append(
            AssetJob(
                episode_id=ids[number],
                movie_id=manifest.movie_id,
                number=number,
                kind=kind,
                source_url=url,
                known_bucket=row.bucket if known and row else None,
                known_key=row.key if known and row else None,
                known_sha256=row.sha256 if known and row else None,
                known_source_sha256=row.source_sha256 if row is not None else None,
                make=make,
                from_video=from_video,
            )
        )
    return jobs


@db_errors
def record_stored(
    engine: Engine,
    stored: Stored,
    attempts: int,
    ladder: Collection[tuple[str, str]] | None = None,
    *,
    cdn: bool = False,
) -> None:
    """Mark the asset stored and point the episode at it, in one transaction.

    If the asset used to live under another key (say .jpg, now .webp), that key is queued for
    purge in the same transaction, so it can never be forgotten. With `cdn`, new bytes under
    the key it already had owe a CDN invalidation (reelflow.core.rules.owes_invalidation),
    queued in the same transaction too.

    A thumbnail's renditions (uploaded before this is called) are recorded in the same
    transaction, with its placeholder; renditions of rungs no longer in `ladder` ((rung,
    format) of the current ladder, or of the preview spec for a clip) are dropped and their
    objects queued for purge. A partial
    rendering (only some rungs made) records those renditions and leaves the asset's object.
    """
    prepared, job = stored.prepared, stored.prepared.job
    current_col, _ = URL_COLUMNS[job.kind]
    now = utcnow()
    if prepared.partial:
        with engine.begin() as conn:
            asset_id = conn.execute(
                select(Asset.id)
                .where(Asset.episode_id == job.episode_id, Asset.kind == job.kind)
                .with_for_update()
            ).scalar()
            if asset_id is None:  # the movie was deleted meanwhile: its purge has the keys
                return
            renditions.upsert_renditions(
                conn, asset_id, stored.renditions, prepared.source_sha256, ladder
            )
            if prepared.placeholder is not None:
                renditions.set_placeholder(conn, asset_id, prepared.placeholder)
            touched: dict[str, Any] = {"updated_at": now}
            if prepared.media is not None:
                touched["media"] = prepared.media
            conn.execute(update(Asset).where(Asset.id == asset_id).values(**touched))
        return
    with engine.begin() as conn:
        previous = conn.execute(
            select(Asset.bucket, Asset.key).where(
                Asset.episode_id == job.episode_id, Asset.kind == job.kind
            )
        ).first()
        before = (previous.bucket, previous.key) if previous else None
        left = replaced_object(before, (stored.bucket, stored.key))
        if owes_invalidation(
            cdn=cdn, uploaded=stored.uploaded, previous=before, new=(stored.bucket, stored.key)
        ):  # new bytes under a key a CDN may hold (a ready-made preview)
            cdn_queue.enqueue_keys(conn, [stored.key])
        if left is not None:
            conn.execute(
                insert_for(conn, PurgeItem.__table__)
                .values(bucket=left[0], key=left[1], reason="replaced", attempts=0, created_at=now)
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
            "backfill_failures": 0,
            "last_error": None,
            "updated_at": now,
            "stored_at": now,
        }
        if prepared.media is not None or job.kind == "preview":
            values["media"] = prepared.media
        result = conn.execute(
            update(Asset)
            .where(Asset.episode_id == job.episode_id, Asset.kind == job.kind)
            .values(**values)
        )
        if result.rowcount == 0:
            conn.execute(
                insert_for(conn, Asset.__table__).values(
                    episode_id=job.episode_id,
                    kind=job.kind,
                    created_at=now,
                    **{**values, "attempts": attempts},
                )
            )
        if stored.renditions or job.kind == "preview":
            asset_id = conn.execute(
                select(Asset.id).where(Asset.episode_id == job.episode_id, Asset.kind == job.kind)
            ).scalar_one()
            # A ready-made preview has no renditions: clips cut before are dropped (purged).
            renditions.upsert_renditions(
                conn,
                asset_id,
                stored.renditions,
                prepared.source_sha256,
                ladder if stored.renditions else (),
            )
            if prepared.placeholder is not None:
                renditions.set_placeholder(conn, asset_id, prepared.placeholder)
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
def record_failed(
    engine: Engine,
    job: AssetJob,
    error: str,
    attempts: int,
    *,
    run: Literal["import", "backfill", "renditions"] = "import",
    retryable: bool = False,
    max_failures: int = 1,
) -> str:
    """Record a failed asset and return its new status (reelflow.core.rules.after_failure:
    failed, abandoned, or stored when a stored asset's new source failed). The episode keeps
    whatever URL it had (graceful degradation)."""
    with engine.begin() as conn:
        row = conn.execute(
            select(Asset.id, Asset.status, Asset.source_url, Asset.backfill_failures)
            .where(Asset.episode_id == job.episode_id, Asset.kind == job.kind)
            .with_for_update()
        ).first()
        if row is None:  # the movie was deleted meanwhile: nothing to record
            return "failed"
        became = after_failure(
            run=run,
            status=row.status,
            same_source=row.source_url == job.source_url,
            retryable=retryable,
            backfill_failures=row.backfill_failures,
            max_failures=max_failures,
        )
        values: dict[str, Any] = {
            "status": became.status,
            "backfill_failures": became.backfill_failures,
            "attempts": Asset.attempts + attempts,
            "last_error": error[:2000],
            "updated_at": utcnow(),
        }
        if became.status != "stored":  # the URL that failed (a stored row keeps its source)
            values["source_url"] = job.source_url
        conn.execute(update(Asset).where(Asset.id == row.id).values(**values))
    return became.status


@db_errors
def recorded_since(
    engine: Engine, jobs: Sequence[AssetJob], since: dt.datetime
) -> dict[AssetJob, AssetOutcome]:
    """The jobs already recorded stored, from their own source, at or after `since` (the
    start of their run): what an earlier try of the same chunk finished before it was cut
    short (a killed worker, a crashed task run). A re-run moves only the others."""
    if not jobs:
        return {}
    by_key = {(job.episode_id, job.kind): job for job in jobs}
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Asset.episode_id,
                Asset.kind,
                Asset.bucket,
                Asset.key,
                Asset.bytes,
                Asset.source_bytes,
                Asset.source_url,
                Asset.attempts,
            ).where(
                Asset.episode_id.in_({job.episode_id for job in jobs}),
                Asset.status == "stored",
                Asset.stored_at >= since,
            )
        ).all()
    done: dict[AssetJob, AssetOutcome] = {}
    for row in rows:
        job = by_key.get((row.episode_id, row.kind))
        if job is None or row.source_url != job.source_url:
            continue
        done[job] = AssetOutcome(
            job=job,
            status="stored",
            bucket=row.bucket,
            key=row.key,
            source_bytes=row.source_bytes,
            bytes=row.bytes,
            attempts=row.attempts,
        )
    return done
