"""Episode upserts and asset records on real PostgreSQL."""

from __future__ import annotations

import traceback

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reelflow.adapters.db import imports
from reelflow.adapters.db.schema import Asset, Episode, PurgeItem
from reelflow.core.errors import DatabaseRejected
from reelflow.core.manifest import parse_manifest
from reelflow.core.models import Prepared, Stored
from reelflow.services import resources


def manifest(n: int, url: str = "https://cdn.example/{n}.jpg") -> object:
    return parse_manifest(
        {
            "movie_id": "mv1",
            "title": "Movie",
            "episodes": [
                {
                    "number": i,
                    "title": f"E{i}",
                    "thumbnail_url": url.format(n=i),
                    "video_preview_url": f"https://cdn.example/{i}.webm",
                }
                for i in range(1, n + 1)
            ],
        }
    )


def counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.scalar(select(func.count()).select_from(Episode)),
            conn.scalar(select(func.count()).select_from(Asset)),
        )


def store(engine, job, key: str, sha: str = "a" * 64) -> None:
    prepared = Prepared(
        job=job,
        path="/nonexistent",
        content_type="image/webp",
        ext="webp",
        bytes=10,
        sha256=sha,
        source_bytes=20,
        source_sha256="b" * 64,
    )
    imports.record_stored(
        engine, Stored(prepared=prepared, bucket="bk", key=key, uploaded=True), attempts=1
    )


def test_upsert_creates_every_episode_and_pending_asset_once(env):
    engine = resources.engine()
    jobs = imports.upsert_manifest(engine, manifest(100))
    assert len(jobs) == 200 and counts(engine) == (100, 200)
    again = imports.upsert_manifest(engine, manifest(100))
    assert counts(engine) == (100, 200)
    assert {(j.episode_id, j.kind) for j in again} == {(j.episode_id, j.kind) for j in jobs}
    assert all(j.known_key is None for j in again)


def test_stored_asset_is_known_and_keeps_its_s3_url_on_reupsert(env):
    engine = resources.engine()
    job = imports.upsert_manifest(engine, manifest(1))[0]
    store(engine, job, "episode-thumbnails/mv1/ep1_thumb.webp")
    with Session(engine) as session:
        ep = session.execute(select(Episode)).scalar_one()
    assert ep.thumbnail_url == "s3://bk/episode-thumbnails/mv1/ep1_thumb.webp"

    same = imports.upsert_manifest(engine, manifest(1))[0]
    assert (
        same.known_key == "episode-thumbnails/mv1/ep1_thumb.webp" and same.known_sha256 == "a" * 64
    )

    moved = imports.upsert_manifest(engine, manifest(1, "https://new.example/{n}.jpg"))[0]
    assert moved.known_key is None, "a new source must be imported again"
    with Session(engine) as session:
        ep = session.execute(select(Episode)).scalar_one()
    assert ep.thumbnail_url.startswith("s3://"), "the stored object keeps serving meanwhile"
    assert ep.thumbnail_source_url == "https://new.example/1.jpg"


def test_failure_keeps_temporary_url_and_records_error(env):
    engine = resources.engine()
    job = imports.upsert_manifest(engine, manifest(1))[0]
    imports.record_failed(engine, job, "download: OriginRejected: 404", attempts=1)
    with Session(engine) as session:
        ep = session.execute(select(Episode)).scalar_one()
        asset = session.execute(select(Asset).where(Asset.kind == "thumbnail")).scalar_one()
    assert ep.thumbnail_url == "https://cdn.example/1.jpg"
    assert (asset.status, asset.attempts) == ("failed", 1)
    assert "404" in asset.last_error


def test_replaced_key_is_queued_for_purge_in_the_same_transaction(env):
    engine = resources.engine()
    job = imports.upsert_manifest(engine, manifest(1))[0]
    store(engine, job, "episode-thumbnails/mv1/ep1_thumb.jpg")
    store(engine, job, "episode-thumbnails/mv1/ep1_thumb.webp", sha="c" * 64)
    with Session(engine) as session:
        owed = session.execute(select(PurgeItem.key)).scalars().all()
        asset = session.execute(select(Asset).where(Asset.kind == "thumbnail")).scalar_one()
    assert owed == ["episode-thumbnails/mv1/ep1_thumb.jpg"]
    assert (asset.key, asset.attempts) == ("episode-thumbnails/mv1/ep1_thumb.webp", 2)


def test_a_refused_statement_never_carries_its_parameters(env):
    """PostgreSQL refuses NUL in text. SQLAlchemy's error lists every parameter of the
    statement (here the temporary URL and its token); reelflow's error carries none of them."""
    engine = resources.engine()
    url = "https://cdn.example/{n}.jpg?token=canary-7f3a"
    job = imports.upsert_manifest(engine, manifest(1, url))[0]
    prepared = Prepared(
        job=job,
        path="/nonexistent",
        content_type="image/webp\x00",  # bad data from a buggy step
        ext="webp",
        bytes=10,
        sha256="a" * 64,
        source_bytes=20,
        source_sha256="b" * 64,
    )
    key = "episode-thumbnails/mv1/ep1_thumb.webp"
    stored = Stored(prepared=prepared, bucket="bk", key=key, uploaded=True)
    with pytest.raises(DatabaseRejected) as info:
        imports.record_stored(engine, stored, attempts=1)
    shown = "".join(traceback.format_exception(info.value))
    assert "NUL" in str(info.value) and "record_stored" in str(info.value)
    assert "canary-7f3a" not in shown and "[parameters" not in shown
    assert info.value.__cause__ is None
