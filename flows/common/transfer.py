"""The part of an import that moves assets, shared by import-episodes and backfill.

Composition only: verify what is recorded as stored, then run the rest through
download -> prepare -> upload -> record, mark what failed, and report progress.

Up to `step_tasks_max_assets` assets, every step is its own task run (retries and states per
step in the UI). Bigger runs use one task run per asset (tasks/transfer.py) running the same
steps: orchestration costs ~10 ms CPU per task run here, and four per asset would dominate.

On a Dask cluster (REELFLOW_TASK_RUNNER=dask) every run uses one task per asset, whatever its
size, with the spool on that Dask worker's own disk (spool_dir=None): an asset's chain never
needs a file on another machine, and only its small result (keys, sizes, sha256) travels back
through the scheduler, never its bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from flows.common.pipeline import StageResult, run_pipeline
from flows.common.progress import Progress
from reelflow.core.errors import StepFailed, StepFailure
from reelflow.core.models import AssetJob, AssetOutcome, Stored
from reelflow.settings import Settings
from tasks.download import download_asset
from tasks.prepare import prepare_asset
from tasks.record import record_failures, record_stored
from tasks.transfer import transfer_asset
from tasks.upload import upload_asset
from tasks.verify import verify_stored

__all__ = ["Transferred", "transfer_assets"]

VERIFY_BATCH = 500


def _outcome(result: StageResult) -> AssetOutcome:
    job: AssetJob = result.item
    if result.ok:
        stored: Stored = result.value
        return AssetOutcome(
            job=job,
            status="stored",
            bucket=stored.bucket,
            key=stored.key,
            source_bytes=stored.prepared.source_bytes,
            bytes=stored.prepared.bytes,
            attempts=stored.prepared.attempts,
            uploaded=stored.uploaded,
            renditions=stored.renditions,
        )
    error = result.error or RuntimeError("no error recorded")
    if isinstance(error, StepFailed):
        failure = error.failure
    else:  # a task failed outside its steps (a bug, or Prefect itself): one attempt
        failure = StepFailure.of(result.failed_stage or "transfer", error, 1)
    return AssetOutcome(
        job=job,
        status="failed",
        error=failure.describe(),
        attempts=failure.attempts,
        retryable=failure.retryable,
    )


@dataclass(frozen=True)
class Transferred:
    """One outcome per job, and the failures the database could not take at the end."""

    outcomes: list[AssetOutcome]
    unrecorded: int = 0
    unrecorded_reason: str = ""


def transfer_assets(
    jobs: Sequence[AssetJob],
    settings: Settings,
    progress: Progress,
    run: Literal["import", "backfill", "renditions"] = "import",
) -> Transferred:
    """Bring every job's asset into S3 (or prove it is there); one outcome per job.

    A failure is recorded by the dead-letter rule of `run` (reelflow.core.rules.after_failure):
    the outcome of an asset given up on says `abandoned`.

    The run reports even when the database is down at the end: failures it cannot record are
    counted (`unrecorded`) instead of failing the run before its summary. Those assets stay as
    they were (pending, or failed from an earlier run), and the next import or backfill adopts
    them: an object already in S3 with the same sha256 is not uploaded again."""
    # Known-stored assets with nothing to make are only checked; a thumbnail with renditions
    # to make (the ladder changed, a rung is missing) goes through the steps for those.
    known = [job for job in jobs if job.known_key and not job.make]
    verified: dict[AssetJob, bool] = {}
    for start in range(0, len(known), VERIFY_BATCH):
        batch = known[start : start + VERIFY_BATCH]
        verified.update(zip(batch, verify_stored(batch), strict=True))
    outcomes = [
        AssetOutcome(job=job, status="skipped", bucket=job.known_bucket, key=job.known_key)
        for job in known
        if verified.get(job)
    ]
    for outcome in outcomes:
        progress.advance(outcome)
    # A known object that is gone or differs is made again whole, every rendition with it.
    todo = [
        replace(job, make=None) if job in verified else job for job in jobs if not verified.get(job)
    ]

    spool = Path(tempfile.mkdtemp(prefix="reelflow-", dir=settings.spool_dir))
    stages: list[tuple[Any, dict[str, Any]]]
    if settings.task_runner == "dask":
        stages = [(transfer_asset, {"spool_dir": None})]
    elif len(todo) <= settings.step_tasks_max_assets:
        stages = [
            (download_asset, {"spool_dir": str(spool)}),
            (prepare_asset, {}),
            (upload_asset, {}),
            (record_stored, {}),
        ]
    else:
        stages = [(transfer_asset, {"spool_dir": str(spool)})]
    try:
        results = run_pipeline(
            todo,
            stages,
            window=settings.import_concurrency * 2,
            on_done=lambda r: progress.advance(_outcome(r)),
        )
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    outcomes += [_outcome(result) for result in results]

    failed = [i for i, o in enumerate(outcomes) if o.status == "failed"]
    if not failed:
        return Transferred(outcomes)
    state = record_failures(
        [(o.job, o.error or "", o.attempts, o.retryable) for o in (outcomes[i] for i in failed)],
        run,
        return_state=True,
    )
    if not state.is_completed():
        error = state.result(raise_on_failure=False)
        return Transferred(outcomes, len(failed), str(error) if error else state.message or "")
    for i, status in zip(failed, state.result(), strict=True):
        if status == "abandoned":
            outcomes[i] = replace(outcomes[i], status="abandoned")
    return Transferred(outcomes)
