"""Tasks: write an asset's outcome to the database (one transaction each)."""

from __future__ import annotations

from functools import partial

from reelflow.adapters.db import imports
from reelflow.core.models import AssetJob, Stored
from reelflow.services import resources
from tasks.invalidate import forget_cached_urls
from tasks.outage import ride_out
from tasks.retry import io_task, step_failures


@io_task("record-stored")
def record_stored(stored: Stored) -> Stored:
    """Mark the asset stored and point the episode at s3://bucket/key.

    When an object was written or replaced, cached presigned URLs of that key are dropped, so
    apps get a new URL (and browsers, which cache by URL, the new bytes).
    """
    with step_failures("record", earlier_attempts=stored.prepared.attempts - 1):
        ride_out(
            "database",
            lambda: imports.record_stored(
                resources.engine(), stored, attempts=stored.prepared.attempts
            ),
        )
    if stored.uploaded:
        forget_cached_urls(stored.bucket, [stored.key])
    return stored


@io_task("record-failures")
def record_failures(failures: list[tuple[AssetJob, str, int]]) -> int:
    """Mark failed assets; their episodes keep the temporary URL."""
    eng = resources.engine()
    for job, error, attempts in failures:
        ride_out("database", partial(imports.record_failed, eng, job, error, attempts))
    return len(failures)
