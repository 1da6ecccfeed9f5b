"""Task: put one prepared file into the object store under its managed key, unless it is
already there."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

from reelflow.adapters.slots import s3_slot
from reelflow.adapters.storage import ObjectStore
from reelflow.core.keys import asset_key, rendition_key
from reelflow.core.ladder import content_version
from reelflow.core.models import Prepared, RenditionFile, Stored, StoredRendition
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.log import run_logger
from tasks.outage import ride_out
from tasks.retry import attempt_number, io_task, step_failures


def _put(
    store: ObjectStore,
    bucket: str,
    key: str,
    path: str,
    size: int,
    sha256: str,
    content_type: str,
) -> bool:
    """Upload unless the store already holds these bytes; True when an object was written."""
    found = store.head(bucket, key)
    if found is not None and found.sha256 == sha256:
        run_logger().debug("Already stored with the same sha256: %s", key)
        return False
    run_logger().debug("Uploading to %s: %s (%d bytes)", store.name, key, size)
    store.put_file(
        bucket,
        key,
        path,
        content_type=content_type,
        cache_control=get_settings().cache_control,
        sha256=sha256,
    )
    return True


def _rendition_key(prepared: Prepared, file: RenditionFile) -> str:
    job = prepared.job
    version = content_version(prepared.source_sha256, file.digest)
    return rendition_key(job.movie_id, job.number, file.rung, version, file.ext, job.kind)


def _upload_renditions(store: ObjectStore, bucket: str, prepared: Prepared) -> Stored:
    """Every rendition under its versioned key; the asset's key is the primary's (or the one
    it has, when only other rungs were made)."""
    settings = get_settings()
    stored = []
    for file in prepared.renditions:
        key = _rendition_key(prepared, file)
        put = functools.partial(
            _put, store, bucket, key, file.path, file.bytes, file.sha256, file.content_type
        )
        with s3_slot(settings, occupy=store.put_slots(file.bytes)):
            uploaded = ride_out("s3", put)
        stored.append(StoredRendition(file=file, bucket=bucket, key=key, uploaded=uploaded))
        Path(file.path).unlink(missing_ok=True)
    job = prepared.job
    if prepared.partial:
        assert job.known_bucket and job.known_key, "a partial rendering of an unstored asset"
        bucket_of_asset, key_of_asset = job.known_bucket, job.known_key
    else:
        bucket_of_asset, key_of_asset = bucket, stored[0].key  # the primary comes first
    return Stored(
        prepared=prepared,
        bucket=bucket_of_asset,
        key=key_of_asset,
        uploaded=any(r.uploaded for r in stored),
        renditions=tuple(stored),
    )


@io_task("upload")
def upload_asset(prepared: Prepared) -> Stored:
    settings = get_settings()
    job = prepared.job
    bucket = settings.s3_bucket_name
    attempts = prepared.attempts + attempt_number() - 1  # download tries + upload retries
    with step_failures("upload", earlier_attempts=prepared.attempts - 1):
        store = resources.store(settings)
        if prepared.renditions or prepared.partial:
            done = _upload_renditions(store, bucket, prepared)
            return replace(done, prepared=replace(prepared, attempts=attempts))
        key = asset_key(job.kind, job.movie_id, job.number, prepared.ext)
        # The HEAD and the upload hold slots of the global storage limit, taken once for both
        # (each take costs API calls); a multipart upload sends several parts at once.
        # A no-op unless settings.global_limits.
        with s3_slot(settings, occupy=store.put_slots(prepared.bytes)):
            uploaded = ride_out(
                "s3",
                lambda: _put(
                    store,
                    bucket,
                    key,
                    prepared.path,
                    prepared.bytes,
                    prepared.sha256,
                    prepared.content_type,
                ),
            )
    Path(prepared.path).unlink(missing_ok=True)
    return Stored(
        prepared=replace(prepared, attempts=attempts), bucket=bucket, key=key, uploaded=uploaded
    )
