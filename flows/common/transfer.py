"""The part of an import that moves assets, shared by import-episodes and backfill.

Composition only: verify what is recorded as stored, then run the rest through
download -> prepare -> upload -> record in chunks (tasks/transfer.py: one task run per chunk,
each asset with its own retries inside it), mark what failed, and report progress per asset.

Chunks are sized as they are submitted (reelflow.core.chunking.ChunkSizer): about
REELFLOW_CHUNK_SECONDS of the machine's time each (the run finishes about one chunk that often),
at most REELFLOW_CHUNK_MAX_ASSETS assets, and never more than an even share of what is left, so
the last chunks keep every thread (or Dask worker) busy. A task run costs ~10-45 ms of
orchestration here: one every ~2 s is 1-2 % of the run, where one task run per asset made the
server the bottleneck.

On a Dask cluster (REELFLOW_TASK_RUNNER=dask) chunks go to the workers, with the spool on that
worker's own disk (spool_dir=None): an asset's steps all run on one worker, and only the small
outcomes (keys, sizes, errors) travel back through the scheduler, never the bytes.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from flows.common.pipeline import ChunkResult, run_chunks
from flows.common.progress import Progress
from reelflow.core.chunking import ChunkSizer, chunk_label
from reelflow.core.errors import StepFailure
from reelflow.core.models import AssetJob, AssetOutcome
from reelflow.settings import Settings
from tasks.record import record_failures
from tasks.transfer import transfer_chunk
from tasks.verify import verify_stored

__all__ = ["Transferred", "transfer_assets"]

VERIFY_BATCH = 500


def _outcomes(result: ChunkResult[AssetJob]) -> list[AssetOutcome]:
    """One outcome per asset of a finished chunk, in its order. A chunk whose task run itself
    failed (its retries spent) fails each of its assets with that error, as one attempt."""
    if result.ok:
        return list(result.value)
    error = result.error or RuntimeError("no error recorded")
    failure = StepFailure.of("transfer", error, 1)
    return [AssetOutcome.of_failure(job, failure) for job in result.chunk.items]


def slots_of(settings: Settings) -> int:
    """Chunks in flight at once: the LocalCluster's worker threads on Dask, else the import's
    threads."""
    if settings.task_runner == "dask" and not settings.dask_address:
        return settings.dask_workers * settings.dask_threads_per_worker
    return settings.import_concurrency


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
    # A Dask worker spools on its own disk; a re-run chunk skips what was recorded since now.
    spool_dir = None if settings.task_runner == "dask" else str(spool)
    since = dt.datetime.now(dt.UTC)
    slots = slots_of(settings)
    sizer = ChunkSizer(
        slots=slots, target_seconds=settings.chunk_seconds, max_size=settings.chunk_max_assets
    )
    moved: dict[AssetJob, AssetOutcome] = {}

    def finished(result: ChunkResult[AssetJob]) -> None:
        for job, outcome in zip(result.chunk.items, _outcomes(result), strict=True):
            progress.advance(outcome)
            moved[job] = outcome

    try:
        run_chunks(
            todo,
            lambda chunk: transfer_chunk.submit(chunk, spool_dir, since),
            sizer=sizer,
            slots=slots,
            label=chunk_label,
            on_done=finished,
        )
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    outcomes += [moved[job] for job in todo]

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
