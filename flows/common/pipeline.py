"""Drive items through a chain of tasks, each stage submitted when the one before it finishes.

Chaining futures (`b.submit(a.submit(x))`) would park a pool thread in every downstream task
while it waits for its upstream, starving the pool. Here the flow thread submits the next stage
only when the previous one has finished, and at most `window` items are in flight, so a
finished download is uploaded promptly instead of queueing behind every other download.

Memory stays flat however many items pass: Prefect keeps every task run's state and result in
the flow run's context (`FlowRunContext.run_results`, keyed by id(result), so that a result
passed on to another task is linked to the run that made it). Once an item has left its last
stage nothing will be passed on, so its entries are dropped: at 20,000 assets they were
~9 KB each, and the import's peak RSS grew with the run.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prefect import Task
from prefect.context import FlowRunContext
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
    carried: dict[int, list[Any]] = {}  # the results an item's stages returned so far
    results: dict[int, StageResult] = {}
    in_flight = 0
    context = FlowRunContext.get()

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
        carried.setdefault(index, []).append(value)
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
        if context is not None:  # the item is done: nothing of it is passed on any more
            for done in [*carried.pop(index, []), result.error]:
                context.run_results.pop(id(done), None)
        in_flight -= 1
        if on_done is not None:
            on_done(result)
        fill()
    return [results[i] for i in sorted(results)]
