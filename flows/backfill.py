"""backfill: import the assets that earlier runs left behind.

Candidates are assets that failed, imports that died (pending for longer than
reelflow.core.rules.CLAIM_TTL), assets stored while the episode still shows a temporary URL,
and episodes that show a temporary URL but have no asset row at all. The temporary URL
imported is the episode's *_source_url (the one it last received).

In batches of `batch_size`, up to `limit` assets:
1. claim a batch (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, marking claimed_at, so two
   backfills running at once never take the same asset; SQLite has a single writer);
2. move it with flows.common.transfer.transfer_assets - the import's own chunks of download,
   prepare, upload and record, retries and progress;
3. release the claims; failures are recorded on the asset rows as in an import.
Each asset is tried at most once per run. The report is the import's (TransferReport).

Dead letters (reelflow.core.rules.after_failure): an asset whose backfill fails with an error
that cannot go away (a 404, unsupported media, a blocked URL), or whose
REELFLOW_BACKFILL_MAX_FAILURES-th backfill in a row fails, becomes `abandoned` and is never
claimed, counted or listed again until `reelflow retry` re-arms it. A backfill with only
abandoned assets left has nothing to do and ends Completed.

`renditions=True` (`reelflow backfill --renditions`) takes stored thumbnails instead: those
imported before the ladder, or whose ladder changed, lacking a current rendition or a
placeholder. Each makes only what is missing, from the stored large object (the temporary
source URL may have expired long ago). A failure leaves the asset stored (its object still
serves) and counts; after REELFLOW_BACKFILL_MAX_FAILURES in a row it is not taken again.
"""

from __future__ import annotations

import time
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from pydantic import Field

from flows.common.naming import backfill_name
from flows.common.progress import Progress
from flows.common.reporting import finish_transfer
from flows.common.runner import SettingsTaskRunner
from flows.common.transfer import transfer_assets
from reelflow.core.models import AssetOutcome
from reelflow.core.reports import TransferReport
from reelflow.settings import get_settings
from tasks.backfill import claim_backfill, count_backfill, list_backfill, release_backfill
from tasks.lease import holding, new_holder, take_movie_leases
from tasks.retry import apply_retry_policy

__all__ = ["backfill"]

MAX_REPORT_LINES = 1000


@flow(
    name="backfill",
    flow_run_name=backfill_name,
    task_runner=SettingsTaskRunner(),
    validate_parameters=True,
)
def backfill(
    limit: Annotated[int, Field(ge=1)] | None = None,
    batch_size: Annotated[int, Field(ge=1)] | None = None,
    dry_run: bool = False,
    renditions: bool = False,
) -> State[TransferReport]:
    """Import up to `limit` assets that are still on temporary URLs or failed before; with
    `renditions`, make the missing renditions of stored thumbnails instead."""
    started = time.monotonic()
    settings = get_settings()
    apply_retry_policy(settings)
    logger = get_run_logger()
    limit = limit or settings.backfill_limit
    batch_size = batch_size or settings.backfill_batch_size
    candidates = count_backfill(renditions)
    logger.info(
        "%d %s need a backfill (this run takes up to %d)",
        candidates,
        "stored thumbnails' renditions" if renditions else "assets",
        limit,
    )

    if dry_run:
        return finish_transfer(
            (),
            run="backfill",
            dry_run=True,
            candidates=candidates,
            bucket=settings.s3_bucket_name,
            listed=list_backfill(min(limit, MAX_REPORT_LINES), renditions),
            seconds=time.monotonic() - started,
        )

    progress = Progress(
        min(candidates, limit), key="backfill-progress", description="Assets backfilled"
    )
    outcomes: list[AssetOutcome] = []
    after_id, batches = 0, 0
    unrecorded, stopped = 0, ""
    holder = new_holder()
    while len(outcomes) < limit:
        claim = claim_backfill(
            after_id, min(batch_size, limit - len(outcomes)), renditions, return_state=True
        )
        if not claim.is_completed():  # the database went away between batches: report
            stopped = str(claim.result(raise_on_failure=False))
            break
        claimed = claim.result()
        if not claimed.items:
            break
        after_id, batches = claimed.last_id, batches + 1
        progress.total = max(progress.total, progress.done + len(claimed.items))
        logger.info("Batch %d: %d assets claimed", batches, len(claimed.items))
        # Movies an import (or another backfill) is working on are left to it.
        movies = sorted({job.movie_id for job in claimed.jobs})
        leased = take_movie_leases(
            movies, holder, backfill_name(), wait=False, shared=True, return_state=True
        )
        taken = set(leased.result()) if leased.is_completed() else set()
        busy = [asset_id for asset_id, job in claimed.items if job.movie_id not in taken]
        if busy:
            given_back = release_backfill(busy, untouched=True, return_state=True)
            progress.total -= len(busy)
            if not given_back.is_completed():  # the database went away: claims lapse
                stopped = str(given_back.result(raise_on_failure=False))
                break
        if not leased.is_completed():
            stopped = str(leased.result(raise_on_failure=False))
            break
        mine = [(asset_id, job) for asset_id, job in claimed.items if job.movie_id in taken]
        try:
            with holding(sorted(taken), holder, shared=True):
                moved = transfer_assets(
                    [job for _, job in mine],
                    settings,
                    progress,
                    run="renditions" if renditions else "backfill",
                )
        finally:
            # Claims the database cannot release now lapse after CLAIM_TTL.
            released = release_backfill([asset_id for asset_id, _ in mine], return_state=True)
        outcomes += moved.outcomes
        unrecorded += moved.unrecorded
        stopped = moved.unrecorded_reason
        if stopped or not released.is_completed():
            stopped = stopped or str(released.result(raise_on_failure=False))
            break

    return finish_transfer(
        outcomes,
        run="backfill",
        candidates=candidates,
        batches=batches,
        bucket=settings.s3_bucket_name,
        seconds=time.monotonic() - started,
        max_lines=MAX_REPORT_LINES,
        unrecorded=unrecorded,
        unrecorded_reason=stopped,
    )
