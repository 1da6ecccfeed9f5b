"""verify: reconcile the database with the bucket.

The database may say `stored` while S3 no longer holds the object (a local S3 endpoint that
lost its state on restart, a lifecycle rule, a manual delete, a restore from an older backup),
and then presigned URLs 404. Backfill skips stored rows and the orphan sweep only goes from S3
to the database; this flow goes the other way.

Dry run by default: it reports what it would mark and changes nothing. For every asset the
database records as stored, in batches (flows/common/verifying.py):
1. read the stored assets in S3's key order and list the key range each batch spans
   (ListObjectsV2 gives 1000 keys with their sizes per request, where HEAD costs one request
   per object): missing keys and wrong sizes;
2. unless `size_only`, HEAD the rest, concurrently, for the sha256 their upload stored in the
   metadata (tasks.verify.verify_stored, the import's own check);
3. with `execute`, mark what is missing or differs: the asset becomes `failed` with the reason
   and its episode points at its temporary URL again, so the next backfill imports it and apps
   stop getting URLs of a missing object.
A report artifact lists the counts and every problem found (up to 1000 rows); progress shows
while it runs. An S3 or database error fails the run (after the policy's retries): an
unchecked object is never reported as intact.
"""

from __future__ import annotations

import time
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from flows.common.naming import verify_name
from flows.common.progress import Progress
from flows.common.reporting import finish, publish
from flows.common.verifying import verify_objects
from reelflow.core.keys import safe_movie_id
from reelflow.core.reports import VerifyReport
from reelflow.settings import get_settings
from tasks.retry import apply_retry_policy
from tasks.verify import count_stored

__all__ = ["verify"]

BATCH_SIZE = 1000


def _publish(report: VerifyReport) -> None:
    mode = "dry run" if report.dry_run else "executed"
    publish(
        "verify-report",
        f"Verify of `{report.bucket}` ({mode})",
        report.headline(),
        [report.counts()],
        table_key="verify-problems",
        table=report.lines,
    )


@flow(
    name="verify",
    flow_run_name=verify_name,
    task_runner=ThreadPoolTaskRunner(max_workers=4),  # type: ignore[arg-type]
    validate_parameters=True,
)
def verify(
    execute: bool = False,
    movie_id: str | None = None,
    limit: Annotated[int, Field(ge=1)] | None = None,
    size_only: bool = False,
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = BATCH_SIZE,
) -> State[VerifyReport]:
    """Check that every object the database says is stored is in S3, with the recorded size
    and sha256; with execute=True, mark what is missing or differs so backfill imports it.

    Args:
        execute: Mark the assets (default: dry run, report only).
        movie_id: Only this movie's assets.
        limit: At most this many assets (default: all).
        size_only: Check presence and size from listings only: no HEAD, no sha256.
        batch_size: Assets read and checked at once.
    """
    started = time.monotonic()
    settings = get_settings()
    apply_retry_policy(settings)
    logger = get_run_logger()
    if movie_id is not None:
        safe_movie_id(movie_id)  # an id that cannot name a key has nothing stored
    total = count_stored(movie_id)
    limit = min(limit or total, total)
    logger.info("%d assets are recorded as stored; checking %d", total, limit)
    report = VerifyReport(
        bucket=settings.s3_bucket_name,
        dry_run=not execute,
        sha256=not size_only,
        movie_id=movie_id,
        stored=total,
    )
    progress = Progress(limit, key="verify-progress", description="Stored objects verified")
    report = verify_objects(
        report,
        execute=execute,
        movie_id=movie_id,
        limit=limit,
        size_only=size_only,
        batch_size=batch_size,
        progress=progress,
    )
    report.seconds = round(time.monotonic() - started, 3)
    _publish(report)
    for line in report.lines[:50]:
        logger.warning("%s/ep%d/%s: %s", line.movie_id, line.episode, line.kind, line.error)
    return finish(report)
