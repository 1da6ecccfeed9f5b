"""The one retry policy of every I/O task: transient errors only, exponential backoff, jitter.

`io_task` declares a task with it. Attempts, delays and jitter are read from settings when a
task run starts (REELFLOW_RETRIES, REELFLOW_RETRY_BASE_DELAY, REELFLOW_RETRY_JITTER), never at
import, and the condition is `retry_transient`: a 404, a bomb or a blocked URL gets one attempt.
Prefect task retries are the single retry owner (httpx does not retry; botocore is set to one
attempt). tests/integration/test_retry_policy.py runs every task that retries against a terminal
and a transient error.

A step of an asset's transfer that fails raises StepFailed carrying a StepFailure (step, error,
attempts): the typed value the flow records, see `step_failures`.
"""

from __future__ import annotations

import copy
import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from prefect import Task
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import State, TaskRun
from prefect.runtime import task_run as current_task_run

from reelflow.core.backoff import backoff_delays
from reelflow.core.errors import StepFailed, StepFailure, is_retryable
from reelflow.settings import get_settings
from tasks.log import quiet_expected_errors

__all__ = ["PolicyTask", "attempt_number", "io_task", "retry_transient", "step_failures"]

quiet_expected_errors()  # a logging filter, no I/O: expected errors are logged without traceback

P = ParamSpec("P")
R = TypeVar("R")


def retry_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """retry_condition_fn: retry TransientError and nothing else (404s, bombs, blocked URLs)."""
    try:
        state.result()
    except Exception as exc:  # the state re-raises the task's exception here
        return is_retryable(exc)
    return False


def _module_task(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


class PolicyTask(Task[P, R]):
    """A Prefect task whose retries, delays and jitter are the configured policy, read when a
    run starts. Values given to Task (or with_options) are ignored: there is one policy."""

    def __reduce__(self) -> Any:
        """Pickled by reference (its module and name) when it is its module's own task: a Dask
        worker imports the same task instead of receiving a copy of its function by value,
        which would drag the module's state along (a threading.Lock cannot be pickled)."""
        module, name = self.fn.__module__, self.fn.__name__
        if getattr(sys.modules.get(module), name, None) is self:
            return (_module_task, (module, name))
        return super().__reduce__()

    # copy.copy and copy.deepcopy would otherwise go through __reduce__ and hand back the
    # module's task itself: a "copy" whose changes land on the original.
    def __copy__(self) -> PolicyTask[P, R]:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> PolicyTask[P, R]:
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def with_options(self, *args: Any, **kwargs: Any) -> PolicyTask[P, R]:
        """Prefect's with_options builds a plain Task; this one keeps the policy."""
        task = super().with_options(*args, **kwargs)
        task.__class__ = PolicyTask
        return task  # type: ignore[return-value]

    @property
    def retries(self) -> int:
        return get_settings().retries

    @retries.setter
    def retries(self, _value: int) -> None:
        pass

    @property
    def retry_delay_seconds(self) -> list[float]:
        settings = get_settings()
        return backoff_delays(settings.retries, settings.retry_base_delay)

    @retry_delay_seconds.setter
    def retry_delay_seconds(self, _value: Any) -> None:
        pass

    @property
    def retry_jitter_factor(self) -> float | None:
        return get_settings().retry_jitter or None

    @retry_jitter_factor.setter
    def retry_jitter_factor(self, _value: Any) -> None:
        pass


def io_task(
    name: str, *, task_run_name: str | None = None
) -> Callable[[Callable[P, R]], PolicyTask[P, R]]:
    """@task for one I/O step: no result cache, the configured retry policy."""

    def decorate(fn: Callable[P, R]) -> PolicyTask[P, R]:
        task = PolicyTask(
            fn=fn,
            name=name,
            task_run_name=task_run_name,
            cache_policy=NONE,
            retry_condition_fn=retry_transient,
        )
        if "<locals>" not in fn.__qualname__:
            # The module's name for it is the task: `<name>.fn` finds the function again, so
            # pickle (a Dask worker) takes it by reference, never by value with its globals.
            fn.__qualname__ = f"{fn.__qualname__}.fn"
        return task

    return decorate


def attempt_number() -> int:
    """1 on the first try of the current task run, 2 on the first retry, ..."""
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
