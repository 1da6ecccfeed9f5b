"""Task: stream one source URL to a spool file, through the SSRF guard and size limits."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from reelflow.adapters.http.fetch import fetch_to_file, probe_origin
from reelflow.adapters.slots import origin_slot
from reelflow.core.errors import OriginThrottled
from reelflow.core.models import AssetJob, Downloaded
from reelflow.core.urlguard import FetchPolicy, redact
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.log import run_logger
from tasks.outage import origin, ride_out
from tasks.retry import attempt_number, io_task, step_failures
from tasks.spool import spool_errors, wait_for_space


def _from_stored(job: AssetJob, spool_dir: str, path: Path, max_bytes: int) -> Downloaded:
    """The stored large rendition as the source (its temporary URL may have expired)."""
    assert job.known_bucket and job.known_key
    bucket, key = job.known_bucket, job.known_key
    settings = get_settings()
    run_logger().debug("Reading %s from the stored %s", job.label, key)
    with step_failures("download"):
        wait_for_space(spool_dir, settings, job.label)
        try:
            with spool_errors(spool_dir), open(path, "wb") as dest:
                store = resources.store(settings)
                size, sha256 = ride_out(
                    "s3", lambda: store.get_to(bucket, key, dest, max_bytes=max_bytes)
                )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return Downloaded(
        job=job,
        path=os.fspath(path),
        bytes=size,
        sha256=sha256,
        content_type=None,
        attempts=attempt_number(),
    )


@io_task("download")
def download_asset(job: AssetJob, spool_dir: str) -> Downloaded:
    settings = get_settings()
    logger = run_logger()
    if job.from_video:  # a full-length episode, for its poster or clip
        max_bytes = settings.max_source_video_bytes
    else:
        max_bytes = (
            settings.max_image_bytes if job.kind == "thumbnail" else settings.max_video_bytes
        )
    if job.from_stored:
        return _from_stored(job, spool_dir, Path(spool_dir) / f"{uuid.uuid4().hex}.src", max_bytes)
    policy = FetchPolicy.from_settings(settings)
    path = Path(spool_dir) / f"{uuid.uuid4().hex}.src"
    logger.debug("Downloading %s from %s", job.label, redact(job.source_url))
    with step_failures("download"):
        wait_for_space(spool_dir, settings, job.label)
        try:
            # One slot of the origin host's global limit (no-op unless settings.global_limits);
            # released before any Retry-After wait below.
            with (
                spool_errors(spool_dir),
                open(path, "wb") as dest,
                origin_slot(job.source_url, settings),
            ):
                client = resources.http_client(policy)
                result = ride_out(
                    origin(job.source_url),
                    lambda: fetch_to_file(
                        job.source_url,
                        dest,
                        max_bytes=max_bytes,
                        policy=policy,
                        client=client,
                        retry_after_cap=settings.retry_after_cap,
                    ),
                    probe=lambda: probe_origin(job.source_url, client, policy),
                )
        except OriginThrottled as exc:
            path.unlink(missing_ok=True)
            if exc.retry_after and attempt_number() <= settings.retries:
                # Honour Retry-After: wait what the origin asked before the backoff delay.
                logger.warning(
                    "Origin throttled %s; waiting %.1fs as asked", job.label, exc.retry_after
                )
                time.sleep(exc.retry_after)
            raise
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return Downloaded(
        job=job,
        path=os.fspath(path),
        bytes=result.bytes,
        sha256=result.sha256,
        content_type=result.content_type,
        attempts=attempt_number(),
    )
