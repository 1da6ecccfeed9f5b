"""Tasks: take the next batch of owed keys from purge_queue, delete a batch from the store,
settle."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import get_run_logger

from reelflow.adapters.db import purge_queue
from reelflow.adapters.storage import DeleteOutcome
from reelflow.core.errors import StorageUnavailable
from reelflow.core.purge import OwedKey, PurgePlan
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.invalidate import forget_cached_urls
from tasks.retry import attempt_number, io_task


@dataclass(frozen=True)
class OwedBatch:
    plan: PurgePlan
    last_id: int

    @property
    def empty(self) -> bool:
        return not (self.plan.delete or self.plan.revived or self.plan.refused)


@io_task("claim-purge-batch")
def claim_purge_batch(after_id: int, limit: int, keys: list[str] | None = None) -> OwedBatch:
    """The next owed keys (id > after_id); keys in use again are dropped from the queue."""
    plan, last_id = purge_queue.owed_batch(
        resources.engine(), after_id=after_id, limit=limit, keys=keys
    )
    return OwedBatch(plan=plan, last_id=last_id)


@io_task("delete-objects")
def delete_objects(bucket: str, keys: list[str]) -> DeleteOutcome:
    """One batch delete (S3: one DeleteObjects request). Per-key transient errors
    (InternalError, SlowDown, ...) fail the attempt so the task's retry policy re-sends the
    batch (deleting is idempotent); on the last attempt they are returned as failures instead,
    with the terminal ones."""
    settings = get_settings()
    outcome = resources.store(settings).delete(bucket, keys)
    transient = [f for f in outcome.failures if f.transient]
    if transient and attempt_number() <= settings.retries:
        get_run_logger().warning(
            "%d of %d keys failed transiently (%s); retrying the batch",
            len(transient),
            len(keys),
            transient[0].describe(),
        )
        first = transient[0].describe()
        raise StorageUnavailable(f"{len(transient)} keys failed in {bucket} ({first})")
    forget_cached_urls(bucket, outcome.deleted)  # deleted objects' URLs must not be served
    return outcome


@io_task("settle-purge-batch")
def settle_purge_batch(deleted: list[OwedKey], failed: list[tuple[OwedKey, str]]) -> int:
    """Remove the rows of deleted keys; keep the others with attempts and last_error."""
    cdn = resources.purger() is not None
    return purge_queue.settle_purge(resources.engine(), deleted, failed, cdn=cdn)
