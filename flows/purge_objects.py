"""purge-objects: delete the objects the database owes a deletion (the purge_queue outbox).

Rows are written by the transaction that orphaned their key (deleting a movie, replacing an
asset), so a crash can never forget one. This flow drains them in batches of up to 1000 keys
(one DeleteObjects request each, `purge_batch_size`; flows/common/purging.py):

1. take the next batch of rows; a key that an asset row or an episode URL references again is
   dropped from the queue and kept in S3, a key that is not a managed key is refused;
2. delete the batch (transient errors, whole-request or per-key, are retried with backoff);
3. remove the rows of deleted keys; keys that could not be deleted keep their row with
   attempts and last_error, so the next purge or orphan sweep retries them;
4. report: "Cleaned up N files from S3" in the log, the state message and an artifact.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.client.schemas.objects import State
from pydantic import Field

from flows.common.naming import purge_name
from flows.common.purging import drain
from flows.common.reporting import finish, publish
from reelflow.core.reports import PurgeReport
from reelflow.settings import get_settings
from tasks.retry import apply_retry_policy

__all__ = ["purge_objects"]


@flow(name="purge-objects", flow_run_name=purge_name, validate_parameters=True)
def purge_objects(
    keys: list[str] | None = None,
    batch_size: Annotated[int, Field(ge=1, le=1000)] | None = None,
) -> State[PurgeReport]:
    """Delete the objects purge_queue owes (all of them, or only those of `keys`).

    Only keys that are in purge_queue are ever deleted: `keys` narrows the queue, it cannot
    add to it.
    """
    settings = get_settings()
    apply_retry_policy(settings)
    report = drain(keys, batch_size or settings.purge_batch_size)
    if report.considered:
        publish(
            "purge-report",
            "Purge",
            report.headline(),
            [report.counts()],
            [f.model_dump() for f in report.failures],
        )
    return finish(report)
