"""purge-objects: delete the objects the database owes a deletion (the purge_queue outbox).

Rows are written by the transaction that orphaned their key (deleting a movie, replacing an
asset), so a crash can never forget one. This flow drains them in batches of up to 1000 keys
(one DeleteObjects request each, `purge_batch_size`):

1. take the next batch of rows; a key that an asset row or an episode URL references again is
   dropped from the queue and kept in S3, a key that is not a managed key is refused;
2. delete the batch (transient errors, whole-request or per-key, are retried with backoff);
3. remove the rows of deleted keys; keys that could not be deleted keep their row with
   attempts and last_error, so the next purge or orphan sweep retries them;
4. report: "Cleaned up N files from S3" in the log, the state message and an artifact.
"""

from __future__ import annotations

import time
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed
from pydantic import Field

from reelflow.cleanup import OwedKey, PurgeFailure, PurgePlan, PurgeReport, batched
from reelflow.settings import Settings, get_settings
from tasks.purge import claim_purge_batch, delete_objects, settle_purge_batch
from tasks.retry import retry_options

__all__ = ["drain", "purge_objects", "report_markdown"]


def _delete_plan(plan: PurgePlan, settings: Settings) -> PurgeReport:
    """Delete one batch (grouped by bucket), settle its rows, return what happened."""
    logger = get_run_logger()
    delete = delete_objects.with_options(**retry_options(settings))
    deleted: list[OwedKey] = []
    failed: list[tuple[OwedKey, str]] = []
    by_bucket: dict[str, list[OwedKey]] = {}
    for row in plan.delete:
        by_bucket.setdefault(row.bucket, []).append(row)
    for bucket, rows in by_bucket.items():
        state = delete(bucket, [row.key for row in rows], return_state=True)
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
    flagged = settle_purge_batch(deleted, failed) if deleted or failed else 0
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


def drain(keys: list[str] | None, batch_size: int, settings: Settings) -> PurgeReport:
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
            report = report.merge(_delete_plan(batch.plan, settings))
    return report.model_copy(update={"seconds": round(time.monotonic() - started, 3)})


def report_markdown(report: PurgeReport, title: str = "Purge") -> str:
    lines = [
        f"# {title}",
        "",
        report.headline(),
        "",
        "| considered | deleted | failed | in use again | refused | requests | seconds |",
        "|---|---|---|---|---|---|---|",
        f"| {report.considered} | {report.deleted} | {report.failed} | {report.revived} "
        f"| {report.refused} | {report.batches} | {report.seconds} |",
    ]
    if report.failures:
        lines += ["", "| bucket | key | error |", "|---|---|---|"]
        lines += [f"| {f.bucket} | `{f.key}` | {f.error} |" for f in report.failures]
    return "\n".join(lines)


@flow(name="purge-objects", validate_parameters=True)
def purge_objects(
    keys: list[str] | None = None,
    batch_size: Annotated[int, Field(ge=1, le=1000)] | None = None,
) -> State[PurgeReport]:
    """Delete the objects purge_queue owes (all of them, or only those of `keys`).

    Only keys that are in purge_queue are ever deleted: `keys` narrows the queue, it cannot
    add to it.
    """
    settings = get_settings()
    report = drain(keys, batch_size or settings.purge_batch_size, settings)
    headline = report.headline()
    get_run_logger().info(headline)
    if report.considered:
        create_markdown_artifact(
            key="purge-report", markdown=report_markdown(report), description=headline
        )
    if report.ok:
        return Completed(message=headline, data=report)
    return Failed(name="Partial" if report.deleted else "Failed", message=headline, data=report)
