"""Task: one asset's whole journey (download, prepare, upload, record) as ONE task run.

Large runs use this instead of one task run per step: a task run costs ~10 ms of CPU between
client and server here, so four per asset would spend more on orchestration than on work at
thousands of assets. The steps are the same functions the per-step tasks run. A retry resumes
after the last step that succeeded (a failed upload is retried without downloading again).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any
from uuid import UUID

from prefect import task
from prefect.cache_policies import NONE
from prefect.runtime import task_run as current_task_run

from reelflow.errors import is_retryable
from reelflow.models import AssetJob, Downloaded, Prepared, Stored
from reelflow.settings import get_settings
from tasks.download import download_asset
from tasks.prepare import prepare_asset
from tasks.record import record_stored
from tasks.retry import attempt_number
from tasks.upload import upload_asset

# What each running transfer has achieved so far, kept across its retries (same process).
_progress: dict[UUID | None, Downloaded | Prepared] = {}
_lock = threading.Lock()


def _step(name: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        exc.step = name  # type: ignore[attr-defined]
        raise


@task(name="transfer", cache_policy=NONE, task_run_name="transfer-{job.label}")
def transfer_asset(job: AssetJob, spool_dir: str) -> Stored:
    run_id = current_task_run.id
    with _lock:
        done = _progress.get(run_id)
    try:
        if not isinstance(done, Prepared):
            if not isinstance(done, Downloaded):
                done = _step("download", download_asset.fn, job, spool_dir)
                with _lock:
                    _progress[run_id] = done
            done = _step("prepare", prepare_asset.fn, done)
            with _lock:
                _progress[run_id] = done
        stored: Stored = _step("upload", upload_asset.fn, done)
        # One task run per asset: its run count is the asset's attempt count.
        stored = replace(stored, prepared=replace(stored.prepared, attempts=attempt_number()))
        _step("record", record_stored.fn, stored)
    except Exception as exc:
        exc.attempts = attempt_number()  # type: ignore[attr-defined]
        if not is_retryable(exc) or attempt_number() > get_settings().retries:
            with _lock:
                _progress.pop(run_id, None)
        raise
    with _lock:
        _progress.pop(run_id, None)
    return stored
