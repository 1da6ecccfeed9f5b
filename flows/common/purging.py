"""Draining purge_queue, shared by the purge-objects flow and the orphan sweep (which drains
the queue before deleting orphans). Composition only: the tasks do the I/O."""

from __future__ import annotations

import time

from prefect import get_run_logger

from reelflow.core.errors import ConfigurationError
from reelflow.core.purge import OwedKey, PurgePlan, batched
from reelflow.core.reports import PurgeFailure, PurgeReport
from reelflow.services import resources
from tasks.cdn import invalidate_cdn
from tasks.purge import claim_purge_batch, delete_objects, settle_purge_batch

__all__ = ["drain"]


def _delete_plan(plan: PurgePlan) -> PurgeReport:
    """Delete one batch (grouped by bucket), settle its rows, return what happened. A
    configuration error (no S3 credentials) fails every key alike: the rows stay queued and
    it is raised, once, instead of a line per key."""
    logger = get_run_logger()
    deleted: list[OwedKey] = []
    failed: list[tuple[OwedKey, str]] = []
    fatal: ConfigurationError | None = None
    by_bucket: dict[str, list[OwedKey]] = {}
    for row in plan.delete:
        by_bucket.setdefault(row.bucket, []).append(row)
    for bucket, rows in by_bucket.items():
        state = delete_objects(bucket, [row.key for row in rows], return_state=True)
        if state.is_completed():
            outcome = state.result()
            errors = {f.key: f.describe() for f in outcome.failures}
            for row in rows:
                if row.key in errors:
                    failed.append((row, errors[row.key]))
                else:
                    deleted.append(row)
        else:
            error = state.result(raise_on_failure=False)
            reason = f"{type(error).__name__}: {error}" if error else str(state.message)
            failed += [(row, reason) for row in rows]
            if isinstance(error, ConfigurationError):
                fatal = error
                break
    flagged = settle_purge_batch(deleted, failed) if deleted or failed else 0
    if fatal is not None:
        raise fatal
    if flagged:
        logger.warning(
            "%d assets were recorded again while their object was being purged: marked failed "
            "so a backfill imports them again",
            flagged,
        )
    for row, why in failed:
        logger.warning("could not delete s3://%s/%s: %s", row.bucket, row.key, why)
    for row in plan.refused:
        logger.error("refused to delete s3://%s/%s: not a managed key", row.bucket, row.key)
    return PurgeReport(
        considered=len(plan.delete) + len(plan.revived) + len(plan.refused),
        deleted=len(deleted),
        failed=len(failed),
        revived=len(plan.revived),
        refused=len(plan.refused),
        batches=len(by_bucket),
        failures=[PurgeFailure(bucket=r.bucket, key=r.key, error=e) for r, e in failed]
        + [
            PurgeFailure(bucket=r.bucket, key=r.key, error="refused: not a managed key")
            for r in plan.refused
        ],
    )


def drain(keys: list[str] | None, batch_size: int) -> PurgeReport:
    """Work through purge_queue once (every row, or the rows of `keys`); each row is tried at
    most once per call, so keys that keep failing cannot loop."""
    started = time.monotonic()
    report = PurgeReport()
    subsets: list[list[str] | None] = (
        [None] if keys is None else list(batched(sorted(set(keys)), batch_size))
    )
    for subset in subsets:
        after_id = 0
        while True:
            batch = claim_purge_batch(after_id, batch_size, subset)
            if batch.empty:
                break
            after_id = batch.last_id
            report = report.merge(_delete_plan(batch.plan))
    if resources.purger() is not None:
        invalidate_cdn()  # the CDN's copies of what was deleted
    return report.model_copy(update={"seconds": round(time.monotonic() - started, 3)})
