"""Chunk sizes, labels and in-chunk retry delays (reelflow.core.chunking), as tables."""

from __future__ import annotations

import random

import pytest

from reelflow.core.chunking import ChunkSizer, chunk_label, jittered, retry_delay
from reelflow.core.models import AssetJob


def job(movie: str, number: int, kind: str = "thumbnail") -> AssetJob:
    return AssetJob(1, movie, number, kind, "https://example.com/x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("jobs", "label"),
    [
        ([job("mv1", 1), job("mv1", 1, "preview"), job("mv1", 48)], "mv1 ep1-ep48 [3]"),
        ([job("mv1", 7)], "mv1 ep7 [1]"),
        ([job("mv1", 7), job("mv2", 3)], "mv1/ep7-mv2/ep3 [2]"),
        ([], "[0]"),
    ],
)
def test_chunk_label(jobs: list[AssetJob], label: str) -> None:
    assert chunk_label(jobs) == label


@pytest.mark.parametrize(
    ("observed", "remaining", "size"),
    [
        ([], 10_000, 4),  # nothing known: the first size
        # 4 assets in 0.64 s with 16 slots: 10 ms of the machine each; 200 wanted, at most 4x
        ([(4, 0.64)], 10_000, 16),
        ([(4, 0.64)], 3, 1),  # 3 left over two rounds of 16 slots: one each
        ([(4, 64.0)], 10_000, 2),  # 1 s each: two make the 2 s target
        ([(4, 640.0)], 10_000, 1),  # slower than the target: never below one
        ([(4, 0.0)], 10_000, 16),  # free assets: growth still bounds the step
        ([(4, 0.64)], 0, 0),  # nothing left
    ],
)
def test_next_size(observed, remaining: int, size: int) -> None:
    sizer = ChunkSizer(slots=16, target_seconds=2.0, max_size=500, first_size=4, growth=4.0)
    sizer.next_size(100)  # the first chunk was 4
    for items, seconds in observed:
        sizer.observe(items, seconds)
    assert sizer.next_size(remaining) == size


def test_sizes_grow_to_the_target_and_stop_at_the_maximum() -> None:
    sizer = ChunkSizer(slots=4, target_seconds=2.0, max_size=300, first_size=4, growth=4.0)
    sizes = []
    for _ in range(8):
        size = sizer.next_size(1_000_000)
        sizes.append(size)
        sizer.observe(size, size * 0.005 * 4)  # 5 ms of the machine each: 400 make 2 s
    assert sizes == [4, 16, 64, 256, 300, 300, 300, 300]


def test_estimate_follows_a_change_in_cost() -> None:
    sizer = ChunkSizer(slots=1, target_seconds=2.0, max_size=10_000, first_size=100, growth=100)
    sizer.next_size(10_000)
    sizer.observe(100, 1.0)  # 10 ms an asset
    assert sizer.next_size(10_000) == 200
    for _ in range(20):
        sizer.observe(100, 10.0)  # now 100 ms an asset
    assert sizer.next_size(10_000) == 20


def test_last_chunks_spread_over_the_slots() -> None:
    sizer = ChunkSizer(slots=8, target_seconds=2.0, max_size=500, first_size=500)
    remaining, sizes = 1000, []
    while remaining:
        size = sizer.next_size(remaining)
        sizes.append(size)
        remaining -= size
    assert sizes[0] == 63, "an even share of two rounds of 8 slots"
    assert sum(sizes) == 1000 and sizes == sorted(sizes, reverse=True) and sizes[-1] == 1


@pytest.mark.parametrize(
    ("attempt", "retryable", "delay"),
    [(1, True, 1.0), (2, True, 2.0), (3, True, 4.0), (4, True, None), (1, False, None)],
)
def test_retry_delay_without_jitter(attempt: int, retryable: bool, delay: float | None) -> None:
    assert retry_delay(attempt, retryable=retryable, delays=[1.0, 2.0, 4.0], jitter=0) == delay


def test_jitter_spreads_within_its_bounds() -> None:
    rand = random.Random(7)
    delays = [jittered(2.0, 0.3, rand) for _ in range(200)]
    assert all(1.4 <= d <= 2.6 for d in delays)
    assert len(set(delays)) == 200 and max(delays) - min(delays) > 0.8
    assert jittered(2.0, 0, rand) == 2.0 and jittered(0.0, 0.3, rand) == 0.0
