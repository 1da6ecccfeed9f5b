"""Tasks: write an asset's outcome to the database (one transaction each)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE

from reelflow import repository, resources
from reelflow.models import AssetJob, Stored
from tasks.invalidate import forget_cached_urls


@task(name="record-stored", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def record_stored(stored: Stored) -> Stored:
    """Mark the asset stored and point the episode at s3://bucket/key.

    When an object was written or replaced, cached presigned URLs of that key are dropped, so
    apps get a new URL (and browsers, which cache by URL, the new bytes).
    """
    repository.record_stored(resources.engine(), stored, attempts=stored.prepared.attempts)
    if stored.uploaded:
        forget_cached_urls(stored.bucket, [stored.key])
    return stored


@task(name="record-failures", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def record_failures(failures: list[tuple[AssetJob, str, int]]) -> int:
    """Mark failed assets; their episodes keep the temporary URL."""
    eng = resources.engine()
    for job, error, attempts in failures:
        repository.record_failed(eng, job, error, attempts)
    return len(failures)
