"""The one retry policy of every I/O task: transient errors only, exponential backoff, jitter.

`io_task` declares a plain Prefect task with it: no result cache and `retry_transient` as its
retry condition, so a 404, a bomb or a blocked URL gets one attempt. Attempts, delays and jitter
come from settings (REELFLOW_RETRIES, REELFLOW_RETRY_BASE_DELAY, REELFLOW_RETRY_JITTER): every
flow calls `apply_retry_policy(settings)` when it starts, which sets those options on each task
(Prefect's own `retries`, `retry_delay_seconds`, `retry_jitter_factor`; never read at import).
A task that is pickled to a Dask worker carries its options with it.

Prefect task retries are the single retry owner: httpx does not retry, botocore is set to one
attempt, and an outage gate (tasks/outage.py) holds calls while a dependency is down but never
re-attempts one. tests/integration/test_retry_policy.py runs every task that retries against a
terminal and a transient error.

A step of an asset's transfer that fails raises StepFailed carrying a StepFailure (step, error,
attempts): the typed value the flow records, see `step_failures`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import State, TaskRun
from prefect.runtime import task_run as current_task_run

from reelflow.core.backoff import backoff_delays
from reelflow.core.errors import StepFailed, StepFailure, is_retryable
from reelflow.settings import Settings
from tasks.log import quiet_expected_errors

__all__ = [
    "RETRYING",
    "apply_retry_policy",
    "asset_attempt",
    "attempt_number",
    "io_task",
    "retry_transient",
    "step_failures",
]

quiet_expected_errors()  # a logging filter, no I/O: expected errors are logged without traceback

P = ParamSpec("P")
R = TypeVar("R")

RETRYING: list[Task[Any, Any]] = []  # every io_task, in declaration order
_DEFAULT_RETRIES: int = Settings.model_fields["retries"].default
_DEFAULT_BASE_DELAY: float = Settings.model_fields["retry_base_delay"].default


def retry_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """retry_condition_fn: retry TransientError and nothing else (404s, bombs, blocked URLs)."""
    try:
        state.result()
    except Exception as exc:  # the state re-raises the task's exception here
        return is_retryable(exc)
    return False


def io_task(
    name: str, *, task_run_name: str | None = None
) -> Callable[[Callable[P, R]], Task[P, R]]:
    """@task for one I/O step: no result cache, retries of transient errors only. Its attempts
    and delays are the settings' once a flow has called apply_retry_policy."""

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        declared: Task[P, R] = task(
            name=name,
            task_run_name=task_run_name,
            cache_policy=NONE,
            retry_condition_fn=retry_transient,
            # Until a flow applies the settings: the defaults' policy (class defaults, no env).
            retries=_DEFAULT_RETRIES,
            retry_delay_seconds=backoff_delays(_DEFAULT_RETRIES, _DEFAULT_BASE_DELAY),
        )(fn)
        RETRYING.append(declared)
        return declared

    return decorate


def apply_retry_policy(settings: Settings) -> None:
    """Give every io_task the configured attempts, delays and jitter (each flow's first step).
    Idempotent, and cheap: a few attribute writes per task."""
    delays = backoff_delays(settings.retries, settings.retry_base_delay)
    jitter = settings.retry_jitter or None
    for declared in RETRYING:
        declared.retries = settings.retries
        declared.retry_delay_seconds = delays
        declared.retry_jitter_factor = jitter


# Inside a chunk (tasks/transfer.py) each asset counts its own tries, not the task run's.
_asset_attempt: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "reelflow_asset_attempt", default=None
)


@contextmanager
def asset_attempt(number: int) -> Iterator[None]:
    """Within the block, attempt_number() is `number`: the try of one asset in a chunk."""
    token = _asset_attempt.set(number)
    try:
        yield
    finally:
        _asset_attempt.reset(token)


def attempt_number() -> int:
    """1 on the first try, 2 on the first retry, ...: of the asset being moved inside a chunk,
    else of the current task run."""
    within_chunk = _asset_attempt.get()
    if within_chunk is not None:
        return within_chunk
    return int(current_task_run.run_count or 1)


@contextmanager
def step_failures(step: str, *, earlier_attempts: int = 0) -> Iterator[None]:
    """Raise any error of the block as StepFailed(step, error, attempts), where attempts counts
    `earlier_attempts` (made by steps before this one) plus this task run's attempt."""
    try:
        yield
    except StepFailed:
        raise
    except Exception as exc:
        failure = StepFailure.of(step, exc, earlier_attempts + attempt_number())
        raise StepFailed(failure) from exc
