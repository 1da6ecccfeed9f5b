"""Task: put one prepared file into S3 under its managed key, unless it is already there."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from reelflow.adapters import s3
from reelflow.adapters.slots import s3_slot
from reelflow.core.keys import asset_key
from reelflow.core.models import Prepared, Stored
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.log import run_logger
from tasks.outage import ride_out
from tasks.retry import attempt_number, io_task, step_failures


def _put(client: Any, bucket: str, key: str, prepared: Prepared) -> bool:
    """Upload unless S3 already holds these bytes; True when an object was written."""
    settings = get_settings()
    if s3.head_sha256(client, bucket, key) == prepared.sha256:
        run_logger().info("Already in S3 with the same sha256: %s", key)
        return False
    run_logger().info("Uploading to S3: %s (%d bytes)", key, prepared.bytes)
    s3.upload_file(
        client,
        prepared.path,
        bucket,
        key,
        content_type=prepared.content_type,
        cache_control=settings.cache_control,
        sha256=prepared.sha256,
        multipart_threshold=settings.multipart_threshold,
        multipart_chunksize=settings.multipart_chunksize,
    )
    return True


@io_task("upload")
def upload_asset(prepared: Prepared) -> Stored:
    settings = get_settings()
    job = prepared.job
    bucket = settings.s3_bucket_name
    attempts = prepared.attempts + attempt_number() - 1  # download tries + upload retries
    with step_failures("upload", earlier_attempts=prepared.attempts - 1):
        key = asset_key(job.kind, job.movie_id, job.number, prepared.ext)
        client = resources.s3_client(settings)
        # The HEAD and the upload hold slots of the global S3 limit, taken once for both (each
        # take costs API calls); a multipart upload sends several parts at once.
        # A no-op unless settings.global_limits.
        multipart = prepared.bytes >= settings.multipart_threshold
        with s3_slot(settings, occupy=s3.MULTIPART_CONCURRENCY if multipart else 1):
            uploaded = ride_out("s3", lambda: _put(client, bucket, key, prepared))
    Path(prepared.path).unlink(missing_ok=True)
    return Stored(
        prepared=replace(prepared, attempts=attempts), bucket=bucket, key=key, uploaded=uploaded
    )
