"""Helpers for the cleanup tests (purge, orphan sweep, backfill): seed movies straight into
PostgreSQL + S3 through the real database adapters, list the bucket, read the purge queue.

A misbehaving S3 for these tests is tests.support.s3_faults.FaultyS3; real imports through a
local origin are tests.support.movies.
"""

from __future__ import annotations

import hashlib
from typing import Any

from reelflow.adapters.db import imports, purge_queue
from reelflow.core.keys import asset_key
from reelflow.core.manifest import parse_manifest
from reelflow.core.models import Prepared, Stored
from reelflow.services import resources
from reelflow.settings import get_settings
from tests.support.s3_client import s3_client

EXT = {"thumbnail": ("webp", "image/webp"), "preview": ("webm", "video/webm")}


def bucket() -> str:
    return get_settings().s3_bucket_name


def put(key: str, body: bytes = b"x", *, bucket_name: str | None = None) -> None:
    s3_client().put_object(Bucket=bucket_name or bucket(), Key=key, Body=body)


def listing(prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every object in the test bucket (all pages)."""
    s3 = s3_client()
    found: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket(), Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = obj
    return found


def seed_movie(
    movie_id: str, episodes: int, *, put_objects: bool = True, record: bool = True
) -> list[str]:
    """A movie whose assets are stored: rows through the real database adapters, tiny objects in S3.
    Returns the object keys."""
    engine = resources.engine()
    manifest = parse_manifest(
        {
            "movie_id": movie_id,
            "title": movie_id,
            "episodes": [
                {
                    "number": n,
                    "thumbnail_url": f"https://origin.example/{movie_id}/{n}/thumb.jpg?sig=t",
                    "video_preview_url": f"https://origin.example/{movie_id}/{n}/preview.webm",
                }
                for n in range(1, episodes + 1)
            ],
        }
    )
    jobs = imports.upsert_manifest(engine, manifest)
    keys = []
    for job in jobs:
        ext, content_type = EXT[job.kind]
        key = asset_key(job.kind, movie_id, job.number, ext)
        body = key.encode()
        if put_objects:
            put(key, body)
        if record:
            sha = hashlib.sha256(body).hexdigest()
            prepared = Prepared(
                job=job,
                path="/nonexistent",
                content_type=content_type,
                ext=ext,
                bytes=len(body),
                sha256=sha,
                source_bytes=len(body),
                source_sha256=sha,
            )
            imports.record_stored(
                engine, Stored(prepared=prepared, bucket=bucket(), key=key, uploaded=True), 1
            )
        keys.append(key)
    return keys


def queue_rows() -> dict[str, Any]:
    """purge_queue rows by key."""
    return {row.key: row for row in purge_queue.purge_queue_rows(resources.engine())}
