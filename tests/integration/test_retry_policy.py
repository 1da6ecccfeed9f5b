"""The one retry policy (tasks/retry.py), for every task in tasks/ that retries: a terminal error
gets exactly one attempt, a transient one gets the configured attempts (REELFLOW_RETRIES + 1).

Each task is run by Prefect's engine as it is declared (its class, retries, delays and retry
condition), with its body swapped for one that raises the error under test, so the table covers
the task's policy and not what its I/O happens to raise. A task declared with plain
`@task(retries=...)` and no retry condition fails the terminal rows here.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil

import pytest
from prefect import Task, flow

import tasks
from reelflow.core.errors import (
    DatabaseUnavailable,
    OriginRejected,
    StepFailed,
    StepFailure,
    StorageUnavailable,
)
from reelflow.services import reset

pytestmark = pytest.mark.usefixtures("prefect_server")

CONFIGURED_RETRIES = 2  # not the default (3): proves the attempts come from settings

# Tasks that never retry, and why. Any other task without retries fails the test below.
NOT_RETRIED = {
    "prepare": "the same bytes compress the same way: its errors are terminal",
    "warm-urls": "warming is best effort; the next warm-up run is the retry",
}


def _tasks() -> dict[str, Task]:
    found: dict[str, Task] = {}
    for info in pkgutil.iter_modules(tasks.__path__):
        module = importlib.import_module(f"tasks.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Task) and value.__module__ == module.__name__:
                found[value.name] = value
    return found


ALL_TASKS = _tasks()
RETRYING = sorted(name for name in ALL_TASKS if name not in NOT_RETRIED)

ERRORS = [
    pytest.param(OriginRejected("HTTP 404"), 1, id="terminal"),
    pytest.param(ValueError("a bug"), 1, id="unknown-error-is-terminal"),
    pytest.param(
        StepFailed(StepFailure("upload", "StorageRejected: 403", 1)), 1, id="step-terminal"
    ),
    pytest.param(StorageUnavailable("S3 answered 503"), CONFIGURED_RETRIES + 1, id="transient"),
    pytest.param(DatabaseUnavailable("refused"), CONFIGURED_RETRIES + 1, id="transient-db"),
    pytest.param(
        StepFailed(StepFailure("download", "OriginUnavailable: reset", 1, retryable=True)),
        CONFIGURED_RETRIES + 1,
        id="step-transient",
    ),
]


@pytest.fixture()
def fast_policy(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REELFLOW_RETRIES", str(CONFIGURED_RETRIES))
    monkeypatch.setenv("REELFLOW_RETRY_BASE_DELAY", "0")
    reset()
    yield
    reset()


def test_the_table_sees_every_task():
    assert len(ALL_TASKS) >= 20, sorted(ALL_TASKS)
    assert set(NOT_RETRIED) <= set(ALL_TASKS), "a task named in NOT_RETRIED no longer exists"
    assert {"download", "upload", "record-stored", "delete-objects", "transfer"} <= set(RETRYING)


@pytest.mark.parametrize("name", sorted(NOT_RETRIED))
def test_tasks_that_never_retry_say_so(name, fast_policy):
    assert ALL_TASKS[name].retries == 0, f"{name} retries but is listed as never retrying"


@pytest.mark.parametrize(("error", "attempts"), ERRORS)
@pytest.mark.parametrize("name", RETRYING)
def test_each_task_retries_transient_errors_only(name, error, attempts, fast_policy):
    calls: list[int] = []

    def failing(*_args: object, **_kwargs: object) -> None:
        calls.append(1)
        raise error

    probe = copy.copy(ALL_TASKS[name])
    probe.fn = failing
    probe.task_run_name = None  # its template names parameters this probe does not take

    @flow(name=f"retry-policy-{name}")
    def run_probe():
        return probe(return_state=True)

    state = run_probe(return_state=True)
    assert state.is_failed()
    assert len(calls) == attempts, f"{name}: {len(calls)} attempts for {error!r}"
