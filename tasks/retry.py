"""The retry policy every I/O task shares: transient errors only, exponential backoff, jitter.

Prefect task retries are the single retry owner (httpx does not retry; botocore is set to one
attempt). Options come from settings when a flow starts, never at import.
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State, TaskRun
from prefect.runtime import task_run as current_task_run

from reelflow.backoff import backoff_delays
from reelflow.errors import ReelflowError, is_retryable
from reelflow.settings import Settings

__all__ = ["attempt_number", "retry_options", "retry_transient"]


def retry_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """retry_condition_fn: retry TransientError and nothing else (404s, bombs, blocked URLs)."""
    try:
        state.result()
    except Exception as exc:  # the state re-raises the task's exception here
        return is_retryable(exc)
    return False


def retry_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for Task.with_options carrying the configured retry policy."""
    return {
        "retries": settings.retries,
        "retry_delay_seconds": backoff_delays(settings.retries, settings.retry_base_delay),
        "retry_jitter_factor": settings.retry_jitter or None,
        "retry_condition_fn": retry_transient,
    }


def attempt_number() -> int:
    """1 on the first try of the current task run, 2 on the first retry, ..."""
    return int(current_task_run.run_count or 1)


def tag_attempts(exc: BaseException) -> BaseException:
    """Record on a reelflow error how many attempts the task made, for the asset row."""
    if isinstance(exc, ReelflowError):
        exc.attempts = attempt_number()  # type: ignore[attr-defined]
    return exc
