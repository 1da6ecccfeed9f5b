"""Task: a chunk of assets, each through its whole journey (download, prepare, upload, record),
as ONE task run.

A task run costs ~10-45 ms of orchestration here (client, server, database), more than an asset
that fails at its first byte, so one task run per asset capped a fleet near 18 assets/s.
A chunk runs the same step functions for many assets (reelflow.core.chunking sizes it to
~2 s of work), one asset at a time: the task runner's threads, or Dask's workers, run chunks
side by side.

Each asset keeps its own retry policy inside the chunk: a transient error is tried again after
the configured backoff with jitter (the chunk works on its other assets meanwhile), a terminal
one never, and a retry resumes after the asset's last step that succeeded. Every asset ends as
one AssetOutcome: stored, or failed with its StepFailure. The chunk itself only fails when
something outside the assets breaks; its re-run (Prefect's retry, or Dask running it again on
another worker when one dies) asks the database which assets an earlier try already recorded
since the run began, and moves only the others.
"""

from __future__ import annotations

import atexit
import datetime as dt
import heapq
import shutil
import tempfile
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

from reelflow.adapters.db import imports
from reelflow.core.backoff import backoff_delays
from reelflow.core.chunking import Chunk, retry_delay
from reelflow.core.errors import StepFailed, StepFailure
from reelflow.core.models import AssetJob, AssetOutcome, Downloaded, Prepared, Stored
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.download import download_asset
from tasks.log import run_logger
from tasks.outage import ride_out
from tasks.prepare import prepare_asset
from tasks.record import record
from tasks.retry import asset_attempt, io_task
from tasks.upload import upload_asset

__all__ = ["transfer", "transfer_chunk", "transfer_jobs"]

_lock = threading.Lock()
_own_spool: str | None = None


def _process_spool() -> str:
    """A spool directory of this process, on its machine's disk (REELFLOW_SPOOL_DIR or the
    temp dir), removed when the process exits: where a Dask worker's assets wait."""
    global _own_spool
    with _lock:
        if _own_spool is None:
            _own_spool = tempfile.mkdtemp(prefix="reelflow-worker-", dir=get_settings().spool_dir)
            atexit.register(shutil.rmtree, _own_spool, True)
        return _own_spool


def _discard(done: Downloaded | Prepared | None) -> None:
    """Remove the spool files of an asset given up on (a Dask worker's spool lives as long as
    the worker)."""
    if done is None:
        return
    paths = [done.path]
    if isinstance(done, Prepared):
        paths += [file.path for file in done.renditions]
    for path in paths:
        Path(path).unlink(missing_ok=True)


def _steps(
    job: AssetJob,
    spool_dir: str,
    done: Downloaded | Prepared | None,
    attempt: int,
    keep: dict[AssetJob, Downloaded | Prepared],
) -> Stored:
    """One try of one asset, resuming after its last step that succeeded (kept in `keep`)."""
    with asset_attempt(attempt):
        if not isinstance(done, Prepared):
            if not isinstance(done, Downloaded):
                done = download_asset.fn(job, spool_dir)
                keep[job] = done
            done = prepare_asset.fn(done)
            keep[job] = done
        stored: Stored = upload_asset.fn(done)
        return record(stored, attempt)


def transfer_jobs(
    jobs: tuple[AssetJob, ...], spool_dir: str | None, since: dt.datetime | None = None
) -> list[AssetOutcome]:
    """Move every job, each with its own retries; one outcome per job, in order.

    `spool_dir` None: this process's own spool (on a Dask worker, its machine's disk).
    `since`: the start of the run; jobs recorded stored since then are not moved again.
    A module-level function under its own name, so that pickle sends a Dask worker a reference
    to it, not a copy of this module's state."""
    settings = get_settings()
    spool = spool_dir or _process_spool()
    logger = run_logger()
    outcomes: dict[int, AssetOutcome] = {}
    if since is not None:
        finished = ride_out(
            "database", lambda: imports.recorded_since(resources.engine(), jobs, since)
        )
        if finished:
            logger.info("%d assets were recorded by an earlier try; moving the rest", len(finished))
        outcomes.update({i: finished[job] for i, job in enumerate(jobs) if job in finished})
    delays = backoff_delays(settings.retries, settings.retry_base_delay)
    ready = deque(i for i in range(len(jobs)) if i not in outcomes)
    waiting: list[tuple[float, int]] = []  # (due on the monotonic clock, index)
    attempts: dict[int, int] = {}
    keep: dict[AssetJob, Downloaded | Prepared] = {}
    while ready or waiting:
        if not ready:
            time.sleep(max(0.0, waiting[0][0] - time.monotonic()))
        now = time.monotonic()
        while waiting and waiting[0][0] <= now:
            ready.append(heapq.heappop(waiting)[1])
        if not ready:
            continue
        index = ready.popleft()
        job = jobs[index]
        attempt = attempts[index] = attempts.get(index, 0) + 1
        try:
            stored = _steps(job, spool, keep.get(job), attempt, keep)
        except StepFailed as exc:
            failure = replace(exc.failure, attempts=attempt)
        except Exception as exc:  # a bug outside the steps: terminal, recorded like a failed step
            failure = StepFailure.of("transfer", exc, attempt)
        else:
            keep.pop(job, None)
            outcomes[index] = AssetOutcome.of_stored(stored)
            continue
        delay = retry_delay(
            attempt, retryable=failure.retryable, delays=delays, jitter=settings.retry_jitter
        )
        if delay is None:
            _discard(keep.pop(job, None))
            outcomes[index] = AssetOutcome.of_failure(job, failure)
            # One line per asset given up on, in its chunk's task run (the UI's view of it).
            logger.error("%s failed after %d attempts: %s", job.label, attempt, failure.describe())
            continue
        logger.warning(
            "Retry %d/%d will start %.3f seconds from now: %s failed at %s",
            attempt,
            settings.retries,
            delay,
            job.label,
            failure.describe(),
        )
        heapq.heappush(waiting, (time.monotonic() + delay, index))
    ended = [outcomes[i] for i in range(len(jobs))]
    kept = [o for o in ended if o.status == "stored"]
    # One line per chunk: per-step lines are DEBUG (at thousands of assets they were most of
    # the Prefect API's work); each failed asset had its own line above.
    logger.info(
        "%d stored (%d uploaded), %d failed",
        len(kept),
        sum(o.uploaded for o in kept),
        len(ended) - len(kept),
    )
    return ended


def transfer(
    chunk: Chunk[AssetJob], spool_dir: str | None, since: dt.datetime | None
) -> list[AssetOutcome]:
    """The chunk's jobs, moved (transfer_jobs); the function the task below runs."""
    return transfer_jobs(chunk.items, spool_dir, since)


# Named after its range in the UI. The chunk's assets retry inside it; the task run itself
# only fails when the chunk broke (the database down past the outage gate's patience for its
# resume check): then the one retry policy of io_task applies, and the re-run resumes.
transfer_chunk = io_task("transfer", task_run_name="transfer {chunk.label}")(transfer)
