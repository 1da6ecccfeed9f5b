"""The one retry policy (tasks/retry.py), for every task in tasks/ that retries: a terminal error
gets exactly one attempt, a transient one gets the configured attempts (REELFLOW_RETRIES + 1).

Each task is run by Prefect's engine as it is declared (retries, delays and retry condition,
once apply_retry_policy has run, as it does first in every flow), with its body swapped for one
that raises the error under test, so the table covers the task's policy and not what its I/O
happens to raise. A task declared with plain
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
from reelflow.settings import get_settings
from tasks.retry import RETRYING as RETRYING_TASKS
from tasks.retry import apply_retry_policy, retry_transient

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


def test_a_flow_start_gives_every_retrying_task_the_configured_policy(fast_policy):
    """apply_retry_policy (each flow's first step) sets Prefect's own options on each task."""
    apply_retry_policy(get_settings())
    for name in RETRYING:
        task = ALL_TASKS[name]
        assert task.retries == CONFIGURED_RETRIES, name
        assert task.retry_delay_seconds == [0.0] * CONFIGURED_RETRIES, name
        assert task.retry_condition_fn is retry_transient, name
    assert set(RETRYING) == {task.name for task in RETRYING_TASKS}, "io_task registers each"
    # Prefect's with_options still works as documented: a copy with the given options.
    again = ALL_TASKS["download"].with_options(name="download-again", retries=9)
    assert (again.name, again.retries) == ("download-again", 9)
    assert again.retry_condition_fn is retry_transient
    assert ALL_TASKS["download"].retries == CONFIGURED_RETRIES


@pytest.mark.parametrize("name", sorted(NOT_RETRIED))
def test_tasks_that_never_retry_say_so(name, fast_policy):
    assert ALL_TASKS[name].retries == 0, f"{name} retries but is listed as never retrying"


@pytest.mark.parametrize("name", RETRYING)
def test_each_task_retries_transient_errors_only(name, fast_policy):
    """One flow per task runs the task once per row of ERRORS (rows are independent: each is
    a fresh task run), and counts the attempts each row got."""
    attempts: dict[str, int] = {}
    template = ALL_TASKS[name]

    def probe_for(row: str, error: BaseException) -> Task:
        def failing(*_args: object, **_kwargs: object) -> None:
            attempts[row] = attempts.get(row, 0) + 1
            raise error

        probe = copy.copy(template)
        probe.fn = failing
        probe.task_run_name = None  # its template names parameters the probe does not take
        return probe

    @flow(name=f"retry-policy-{name}")
    def run_probes() -> list[bool]:
        apply_retry_policy(get_settings())  # what every reelflow flow does first
        return [probe_for(row.id, row.values[0])(return_state=True).is_failed() for row in ERRORS]

    assert all(run_probes())
    expected = {row.id: row.values[1] for row in ERRORS}
    assert attempts == expected, f"{name}: attempts per error {attempts}, expected {expected}"


def test_the_dask_task_pickles_its_function_by_reference_and_its_options_by_value(fast_policy):
    """A Dask worker imports the chunk's function (never a copy of this module's state), and
    gets the task's options as the flow set them."""
    import cloudpickle

    from tasks.transfer import transfer, transfer_chunk

    apply_retry_policy(get_settings())
    shipped = cloudpickle.loads(cloudpickle.dumps(transfer_chunk))
    assert shipped is not transfer_chunk
    assert shipped.fn is transfer, "the function travels by reference"
    assert shipped.retries == CONFIGURED_RETRIES
    assert shipped.retry_condition_fn is retry_transient
