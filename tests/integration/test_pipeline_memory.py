"""run_pipeline lets go of each item's task results once the item is done, so the flow's
memory does not grow with the number of assets (Prefect keeps every result it sees)."""

from __future__ import annotations

import pytest
from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext

from flows.common.pipeline import run_pipeline

pytestmark = pytest.mark.usefixtures("prefect_server")


class Payload:
    """A result Prefect tracks (plain ints and None it does not)."""

    def __init__(self, n: int) -> None:
        self.n = n


@task(cache_policy=NONE)
def first(n: int) -> Payload:
    return Payload(n)


@task(cache_policy=NONE)
def second(payload: Payload) -> Payload:
    if payload.n % 10 == 0:
        raise ValueError(f"item {payload.n} fails")
    return Payload(payload.n * 2)


@flow
def pipeline_flow(items: int) -> tuple[list[int | None], int, int]:
    context = FlowRunContext.get()
    assert context is not None
    before = len(context.run_results)
    results = run_pipeline(range(items), [(first, {}), (second, {})], window=8)
    tracked_by_prefect = first.submit(999).result()  # a result outside the pipeline is kept
    return (
        [r.value.n if r.ok else None for r in results],
        len(context.run_results) - before,
        int(id(tracked_by_prefect) in context.run_results),
    )


def test_results_are_released_when_each_item_is_done():
    values, left, control = pipeline_flow(60)
    assert values == [None if n % 10 == 0 else n * 2 for n in range(60)]
    assert control == 1, "Prefect tracks results outside the pipeline (the check can see them)"
    assert left <= 1, f"{left} results of finished items are still held"
