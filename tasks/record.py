"""Tasks: write an asset's outcome to the database (one transaction each)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Literal

from reelflow.adapters.db import imports
from reelflow.core.models import AssetJob, Stored
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.invalidate import forget_cached_urls
from tasks.outage import ride_out
from tasks.retry import attempt_number, io_task, step_failures


def _specs_of(stored: Stored) -> set[tuple[str, str]]:
    """The (rung, format) an asset of this kind is kept in: the ladder, or the clip's formats."""
    settings = get_settings()
    if stored.prepared.job.kind == "preview":
        return set(settings.preview_spec().digests())
    return set(settings.image_ladder().digests())


def record(stored: Stored, attempts: int) -> Stored:
    """Mark the asset stored after `attempts` tries in all, and point the episode at
    s3://bucket/key (tasks.transfer calls it within its own task run).

    When an object was written or replaced, cached presigned URLs of that key are dropped, so
    apps get a new URL (and browsers, which cache by URL, the new bytes).
    """
    stored = replace(stored, prepared=replace(stored.prepared, attempts=attempts))
    with step_failures("record", earlier_attempts=attempts - attempt_number()):
        ride_out(
            "database",
            lambda: imports.record_stored(
                resources.engine(),
                stored,
                attempts=attempts,
                ladder=_specs_of(stored),
                cdn=resources.purger() is not None,
            ),
        )
    if stored.uploaded:
        forget_cached_urls(
            stored.bucket, [stored.key, *(r.key for r in stored.renditions if r.uploaded)]
        )
    return stored


@io_task("record-stored")
def record_stored(stored: Stored) -> Stored:
    """record(), counting this task's retries on top of the download's and the upload's:
    an attempt lost to a database outage is one of the asset's counted attempts."""
    return record(stored, stored.prepared.attempts + attempt_number() - 1)


@io_task("record-failures")
def record_failures(
    failures: list[tuple[AssetJob, str, int, bool]],
    run: Literal["import", "backfill", "renditions"],
) -> list[str]:
    """Mark failed assets (job, error, attempts, retryable); their episodes keep the temporary
    URL. Returns each asset's new status: a backfill abandons what it should give up on
    (reelflow.core.rules.after_failure, REELFLOW_BACKFILL_MAX_FAILURES)."""
    eng = resources.engine()
    max_failures = get_settings().backfill_max_failures
    return [
        ride_out(
            "database",
            partial(
                imports.record_failed,
                eng,
                job,
                error,
                attempts,
                run=run,
                retryable=retryable,
                max_failures=max_failures,
            ),
        )
        for job, error, attempts, retryable in failures
    ]
