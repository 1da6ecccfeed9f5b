"""Task: stream one source URL to a spool file, through the SSRF guard and size limits."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from deployments.limits import origin_slot
from reelflow import resources
from reelflow.errors import OriginThrottled
from reelflow.fetch import fetch_to_file
from reelflow.models import AssetJob, Downloaded
from reelflow.settings import get_settings
from reelflow.urlguard import FetchPolicy, redact
from tasks.log import run_logger
from tasks.retry import attempt_number, tag_attempts


@task(name="download", cache_policy=NONE)
def download_asset(job: AssetJob, spool_dir: str) -> Downloaded:
    settings = get_settings()
    logger = run_logger()
    max_bytes = settings.max_image_bytes if job.kind == "thumbnail" else settings.max_video_bytes
    policy = FetchPolicy.from_settings(settings)
    path = Path(spool_dir) / f"{uuid.uuid4().hex}.src"
    logger.info("Downloading %s from %s", job.label, redact(job.source_url))
    try:
        # One slot of the origin host's global limit (no-op unless settings.global_limits);
        # released before any Retry-After wait below.
        with open(path, "wb") as dest, origin_slot(job.source_url, settings):
            result = fetch_to_file(
                job.source_url,
                dest,
                max_bytes=max_bytes,
                policy=policy,
                client=resources.http_client(policy),
                retry_after_cap=settings.retry_after_cap,
            )
    except OriginThrottled as exc:
        path.unlink(missing_ok=True)
        if exc.retry_after and attempt_number() <= settings.retries:
            # Honour Retry-After: wait what the origin asked before the backoff delay starts.
            logger.warning(
                "Origin throttled %s; waiting %.1fs as asked", job.label, exc.retry_after
            )
            time.sleep(exc.retry_after)
        raise tag_attempts(exc) from None
    except Exception as exc:
        path.unlink(missing_ok=True)
        raise tag_attempts(exc) from None
    return Downloaded(
        job=job,
        path=os.fspath(path),
        bytes=result.bytes,
        sha256=result.sha256,
        content_type=result.content_type,
        attempts=attempt_number(),
    )
