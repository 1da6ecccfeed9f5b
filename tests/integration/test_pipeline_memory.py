"""run_chunks lets go of each chunk's task result once it is read, so the flow's memory does
not grow with the number of assets (Prefect keeps every result it sees); and it submits the
items in order, in chunks sized by the ChunkSizer, at most `slots` at once."""

from __future__ import annotations

import threading

import pytest
from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext

from flows.common.pipeline import run_chunks
from reelflow.core.chunking import Chunk, ChunkSizer

pytestmark = pytest.mark.usefixtures("prefect_server")

_running = 0
_most = 0
_lock = threading.Lock()


class Payload:
    """A result Prefect tracks (plain ints and None it does not)."""

    def __init__(self, n: int) -> None:
        self.n = n


@task(cache_policy=NONE)
def double(chunk: Chunk[int]) -> list[Payload]:
    global _running, _most
    with _lock:
        _running += 1
        _most = max(_most, _running)
    try:
        if 13 in chunk.items:
            raise ValueError("the chunk with 13 fails")
        return [Payload(n * 2) for n in chunk.items]
    finally:
        with _lock:
            _running -= 1


@task(cache_policy=NONE)
def single(n: int) -> Payload:
    return Payload(n)


@flow
def chunked_flow(items: int) -> tuple[list[list[int] | None], list[int], int, int]:
    context = FlowRunContext.get()
    assert context is not None
    before = len(context.run_results)
    results = run_chunks(
        list(range(items)),
        double.submit,
        sizer=ChunkSizer(slots=2, first_size=3, max_size=5),
        slots=2,
        label=lambda part: f"{part[0]}-{part[-1]}",
    )
    tracked_by_prefect = single.submit(999).result()  # a result outside the chunks is kept
    values = [[p.n for p in r.value] if r.ok else None for r in results]
    sizes = [len(r.chunk) for r in results]
    return (
        values,
        sizes,
        len(context.run_results) - before,
        int(id(tracked_by_prefect) in context.run_results),
    )


def test_chunks_cover_every_item_in_order_and_results_are_released():
    values, sizes, left, control = chunked_flow(60)
    assert sum(sizes) == 60 and max(sizes) <= 5 and sizes[:2] == [3, 3]
    flat = [n for part in values if part is not None for n in part]
    failed = [i for i, part in enumerate(values) if part is None]
    assert len(failed) == 1, "exactly the chunk holding 13 failed"
    start = sum(sizes[: failed[0]])
    assert start <= 13 < start + sizes[failed[0]]
    expected = [n * 2 for n in range(60) if not start <= n < start + sizes[failed[0]]]
    assert flat == expected, "every other item, in order, once"
    assert _most <= 2, f"{_most} chunks ran at once with 2 slots"
    assert control == 1, "Prefect tracks results outside the chunks (the check can see them)"
    assert left <= 1, f"{left} results of finished chunks are still held"
