"""Drive items through one task in chunks: each chunk one task run, `slots` of them in flight,
each sized when it is submitted from how long the chunks before it took
(reelflow.core.chunking.ChunkSizer), so a task run does ~2 s of the machine's work whatever an
item costs, and the last chunks spread across every slot.

Memory stays flat however many items pass: Prefect keeps every task run's state and result in
the flow run's context (`FlowRunContext.run_results`, keyed by id(result), so that a result
passed on to another task is linked to the run that made it; a list's items each get one).
A chunk's result is never passed on, so its entries are dropped once it is read: at 20,000
assets the entries were ~9 KB each, and the import's peak RSS grew with the run.
"""

from __future__ import annotations

import functools
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture

from reelflow.core.chunking import Chunk, ChunkSizer

__all__ = ["ChunkResult", "run_chunks"]

T = TypeVar("T")


@dataclass(frozen=True)
class ChunkResult(Generic[T]):
    """How one chunk ended: its task's value (one entry per item), or the error that ended the
    task run itself."""

    chunk: Chunk[T]
    ok: bool
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0


def _done(
    events: queue.Queue[tuple[int, float, PrefectFuture[Any]]],
    index: int,
    started: float,
    future: PrefectFuture[Any],
) -> None:
    events.put((index, started, future))


def run_chunks(
    items: Sequence[T],
    submit: Callable[[Chunk[T]], PrefectFuture[Any]],
    *,
    sizer: ChunkSizer,
    slots: int,
    label: Callable[[Sequence[T]], str],
    on_done: Callable[[ChunkResult[T]], None] | None = None,
) -> list[ChunkResult[T]]:
    """Submit `items` in order as chunks, at most `slots` in flight; results in chunk order."""
    events: queue.Queue[tuple[int, float, PrefectFuture[Any]]] = queue.Queue()
    results: dict[int, ChunkResult[T]] = {}
    chunks: dict[int, Chunk[T]] = {}
    context = FlowRunContext.get()
    position = 0
    in_flight = 0
    submitted = 0

    def fill() -> None:
        nonlocal position, in_flight, submitted
        while position < len(items) and in_flight < slots:
            size = sizer.next_size(len(items) - position)
            part = items[position : position + size]
            chunk = Chunk(items=tuple(part), label=label(part))
            index = submitted
            submitted += 1
            chunks[index] = chunk
            position += size
            in_flight += 1
            started = time.monotonic()
            future = submit(chunk)
            future.add_done_callback(functools.partial(_done, events, index, started))

    fill()
    while in_flight:
        index, started, future = events.get()
        future.wait()  # done already; pins the final state locally, no API round trip
        seconds = time.monotonic() - started
        state = future.state
        chunk = chunks.pop(index)
        if state.is_completed():
            value = state.result(raise_on_failure=False)
            result = ChunkResult(chunk=chunk, ok=True, value=value, seconds=seconds)
            sizer.observe(len(chunk), seconds)
        else:
            error = state.result(raise_on_failure=False)
            if not isinstance(error, BaseException):
                error = RuntimeError(state.message or state.name)
            result = ChunkResult(chunk=chunk, ok=False, error=error, seconds=seconds)
        if context is not None:  # nothing of a finished chunk is passed on to another task
            held = result.value if isinstance(result.value, list) else []  # tracked one by one
            for done in [result.value, result.error, *held]:
                context.run_results.pop(id(done), None)
        results[index] = result
        in_flight -= 1
        if on_done is not None:
            on_done(result)
        fill()
    return [results[i] for i in sorted(results)]
