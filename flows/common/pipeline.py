"""Drive items through a chain of tasks, each stage submitted when the one before it finishes.

Chaining futures (`b.submit(a.submit(x))`) would park a pool thread in every downstream task
while it waits for its upstream, starving the pool. Here the flow thread submits the next stage
only when the previous one has finished, and at most `window` items are in flight, so a
finished download is uploaded promptly instead of queueing behind every other download.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prefect import Task
from prefect.futures import PrefectFuture

__all__ = ["StageResult", "run_pipeline"]


@dataclass(frozen=True)
class StageResult:
    """How one item ended: the last value on success, or the stage and error on failure."""

    item: Any
    ok: bool
    value: Any = None
    failed_stage: str | None = None
    error: BaseException | None = None


def run_pipeline(
    items: Iterable[Any],
    stages: Sequence[tuple[Task[..., Any], dict[str, Any]]],
    *,
    window: int,
    on_done: Callable[[StageResult], None] | None = None,
) -> list[StageResult]:
    """Run every item through `stages` ((task, extra kwargs), ...) and return results in order."""
    events: queue.Queue[tuple[int, int, PrefectFuture[Any]]] = queue.Queue()
    pending = list(enumerate(items))
    pending.reverse()
    inputs: dict[int, Any] = {}
    results: dict[int, StageResult] = {}
    in_flight = 0

    def launch(index: int, stage: int, value: Any) -> None:
        task, extra = stages[stage]
        future = task.submit(value, **extra)
        future.add_done_callback(lambda f: events.put((index, stage, f)))

    def fill() -> None:
        nonlocal in_flight
        while pending and in_flight < window:
            index, item = pending.pop()
            inputs[index] = item
            in_flight += 1
            launch(index, 0, item)

    fill()
    while in_flight:
        index, stage, future = events.get()
        future.wait()  # done already; pins the final state locally, no API round trip
        state = future.state
        value = state.result(raise_on_failure=False) if state.is_completed() else None
        if state.is_completed() and stage + 1 < len(stages):
            launch(index, stage + 1, value)
            continue
        if state.is_completed():
            result = StageResult(item=inputs[index], ok=True, value=value)
        else:
            error = state.result(raise_on_failure=False)
            if not isinstance(error, BaseException):
                error = RuntimeError(state.message or state.name)
            result = StageResult(
                item=inputs[index],
                ok=False,
                failed_stage=stages[stage][0].name,
                error=error,
            )
        results[index] = result
        in_flight -= 1
        if on_done is not None:
            on_done(result)
        fill()
    return [results[i] for i in sorted(results)]
