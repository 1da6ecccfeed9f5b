"""Tasks: take the next batch of owed keys from purge_queue, delete a batch from S3, settle."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from reelflow import purge, repository, resources
from reelflow.cleanup import OwedKey, PurgePlan
from reelflow.errors import StorageUnavailable
from reelflow.settings import get_settings
from tasks.invalidate import forget_cached_urls
from tasks.retry import attempt_number


@dataclass(frozen=True)
class OwedBatch:
    plan: PurgePlan
    last_id: int

    @property
    def empty(self) -> bool:
        return not (self.plan.delete or self.plan.revived or self.plan.refused)


@task(name="claim-purge-batch", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def claim_purge_batch(after_id: int, limit: int, keys: list[str] | None = None) -> OwedBatch:
    """The next owed keys (id > after_id); keys in use again are dropped from the queue."""
    plan, last_id = repository.owed_batch(
        resources.engine(), after_id=after_id, limit=limit, keys=keys
    )
    return OwedBatch(plan=plan, last_id=last_id)


@task(name="delete-objects", cache_policy=NONE)
def delete_objects(bucket: str, keys: list[str]) -> purge.DeleteOutcome:
    """One DeleteObjects request. Per-key transient errors (InternalError, SlowDown, ...) fail
    the attempt so the task's retry policy re-sends the batch (deleting is idempotent); on the
    last attempt they are returned as failures instead, with the terminal ones."""
    settings = get_settings()
    outcome = purge.delete_keys(resources.s3_client(settings), bucket, keys)
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


@task(name="settle-purge-batch", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def settle_purge_batch(deleted: list[OwedKey], failed: list[tuple[OwedKey, str]]) -> int:
    """Remove the rows of deleted keys; keep the others with attempts and last_error."""
    return repository.settle_purge(resources.engine(), deleted, failed)
