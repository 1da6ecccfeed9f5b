"""Task: one asset's whole journey (download, prepare, upload, record) as ONE task run.

Large runs use this instead of one task run per step: a task run costs ~10 ms of CPU between
client and server here, so four per asset would spend more on orchestration than on work at
thousands of assets. The steps are the same functions the per-step tasks run. A retry resumes
after the last step that succeeded (a failed upload is retried without downloading again).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from dataclasses import replace
from uuid import UUID

from prefect.runtime import task_run as current_task_run

from reelflow.core.errors import StepFailed, StepFailure, is_retryable
from reelflow.core.models import AssetJob, Downloaded, Prepared, Stored
from reelflow.settings import get_settings
from tasks.download import download_asset
from tasks.prepare import prepare_asset
from tasks.record import record
from tasks.retry import attempt_number, io_task
from tasks.upload import upload_asset

# What each running transfer has achieved so far, kept across its retries (same process).
_progress: dict[UUID | None, Downloaded | Prepared] = {}
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


def transfer(job: AssetJob, spool_dir: str | None) -> Stored:
    """Every step of one asset. `spool_dir` None: this process's own spool (on a Dask worker,
    its machine's disk). A module-level function under its own name, so that pickle sends a
    Dask worker a reference to it, not a copy dragging this module's lock and progress along."""
    spool_dir = spool_dir or _process_spool()
    run_id = current_task_run.id
    with _lock:
        done = _progress.get(run_id)
    try:
        if not isinstance(done, Prepared):
            if not isinstance(done, Downloaded):
                done = download_asset.fn(job, spool_dir)
                with _lock:
                    _progress[run_id] = done
            done = prepare_asset.fn(done)
            with _lock:
                _progress[run_id] = done
        stored: Stored = upload_asset.fn(done)
        # One task run per asset: its run count is the asset's attempt count.
        stored = record(stored, attempt_number())
    except StepFailed as exc:
        if not is_retryable(exc) or attempt_number() > get_settings().retries:
            with _lock:
                _progress.pop(run_id, None)
        # The steps count attempts per step; here the task run's count is the asset's.
        failure = replace(exc.failure, attempts=attempt_number())
        raise StepFailed(failure) from exc.__cause__
    except Exception as exc:  # a bug outside the steps: terminal, recorded like a failed step
        with _lock:
            _progress.pop(run_id, None)
        raise StepFailed(StepFailure.of("transfer", exc, attempt_number())) from exc
    with _lock:
        _progress.pop(run_id, None)
    return stored


transfer_asset = io_task("transfer", task_run_name="transfer-{job.label}")(transfer)
